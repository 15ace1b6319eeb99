/**
 * The runner behind `tensorlaws verify`: every selected law against every backend, as one
 * structured report (src/verify/report/schema.ts) that the terminal, JSON, Markdown and JUnit writers
 * lay out. A kernel that throws, hangs, breaks the contract or throws asynchronously fails the
 * law that exercised it; the run goes on.
 */
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { allLaws } from "../../properties/index.ts";
import type { Backend, OpName } from "../engine/contract.ts";
import { KernelContractError } from "../engine/errors.ts";
import type { Law, LawResult } from "../harness/law.ts";
import { budgetFor } from "../harness/tolerance.ts";
import { describeBackend, reference } from "./backends.ts";
import type { ModuleSession } from "./isolate.ts";
import { budgetUseReport, mergeBudgetUse } from "./report/budget-use.ts";
import {
  type BackendReport,
  type BudgetReport,
  type Counts,
  type FailureReport,
  jsonNumber,
  type LawReport,
  type Report,
  SCHEMA_VERSION,
} from "./report/schema.ts";
import { runOneLaw, StrayErrors } from "./run-one.ts";

export { runOneLaw, StrayErrors } from "./run-one.ts";

export const DEFAULT_SEED = 20261122;
export const DEFAULT_RUNS = 100;
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The reference implements every op of the contract: its kernel names are the op names. */
export const contractOps: readonly OpName[] = Object.keys(reference.kernels) as OpName[];

/** A backend to verify, and the command-line arguments that select it again (for replays). */
export interface Target {
  backend: Backend;
  /** e.g. ["./my-backend.ts"], ["--builtin", "cpu32"], ["--mutant", "softmax-naive"]. */
  args: readonly string[];
  /** Stop a kernel stuck in a synchronous loop after the timeout too (costs ~0.1 ms a call):
   * for code we did not write. */
  guardSync?: boolean;
  /**
   * Child processes running the same backend (a built-in, loaded from its module): the laws run
   * there instead, each process taking the next law when it finishes one (`tensorlaws verify
   * --jobs N`); the report is the same as from this process. This one only hands laws out: a law
   * running here would not let it read a helper's answer before the law ends (the harness
   * awaits only promises, never the event loop).
   */
  helpers?: readonly ModuleSession[];
}

/**
 * A backend module running in a supervised child process of its own (src/verify/isolate.ts):
 * its laws run there, and whatever its kernels do (exit, crash, hang, write globals) fails the
 * law that ran, never this process.
 */
export interface IsolatedTarget {
  session: ModuleSession;
  /** `session.backend`: what reports need to know of it (its kernels run in the child only). */
  backend: Backend;
  args: readonly string[];
}

/** Which laws to run: each filter narrows the selection (ids, the ops a law calls, topics). */
export interface Selection {
  /** Law ids; a trailing `*` matches a prefix (`B5*`, `I4.*`). */
  laws?: readonly string[];
  ops?: readonly string[];
  topics?: readonly string[];
}

/** The selection names a law, op or topic that does not exist. */
export class SelectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SelectionError";
  }
}

/** The laws a selection picks, in catalogue order. */
export function selectLaws(selection: Selection, laws: readonly Law[] = allLaws): Law[] {
  const { laws: ids, ops, topics } = selection;
  const matches = (pattern: string, id: string) =>
    pattern.endsWith("*") ? id.startsWith(pattern.slice(0, -1)) : id === pattern;
  for (const pattern of ids ?? []) {
    if (!laws.some((l) => matches(pattern, l.id))) {
      throw new SelectionError(`no law has id '${pattern}' (tensorlaws --list shows them all)`);
    }
  }
  for (const op of ops ?? []) {
    if (!contractOps.includes(op as OpName)) {
      throw new SelectionError(
        `'${op}' is not an op of the contract (ops: ${contractOps.join(", ")})`,
      );
    }
  }
  const knownTopics = [...new Set(laws.map((l) => l.topic))];
  for (const topic of topics ?? []) {
    if (!knownTopics.includes(topic as Law["topic"])) {
      throw new SelectionError(`'${topic}' is not a topic (topics: ${knownTopics.join(", ")})`);
    }
  }
  return laws.filter(
    (law) =>
      (!ids || ids.some((p) => matches(p, law.id))) &&
      (!ops || law.ops.some((op) => ops.includes(op))) &&
      (!topics || topics.includes(law.topic)),
  );
}

export interface Progress {
  done: number;
  total: number;
  law: Law;
  backend: string;
  status: LawResult["status"];
}

export interface VerifyOptions {
  /** The laws to run (default: every law). */
  laws?: readonly Law[];
  /** The filters that chose `laws`, recorded in the report. */
  selection?: Selection;
  numRuns?: number;
  seed?: number;
  /** fast-check replay path of one failure. */
  path?: string;
  /** Milliseconds before a kernel call counts as hung. */
  timeoutMs?: number;
  /** Warnings to carry into the report (e.g. no WebGPU adapter). */
  notes?: readonly string[];
  onProgress?: (progress: Progress) => void;
  /** Aborting cuts the run short: the report covers the laws done so far, marked incomplete. */
  signal?: AbortSignal;
}

const version: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

const isIsolated = (t: Target | IsolatedTarget): t is IsolatedTarget => "session" in t;

/** Runs the laws against each target, one backend after the other. Never throws for a kernel. */
export async function verify(
  targets: readonly (Target | IsolatedTarget)[],
  options: VerifyOptions = {},
): Promise<Report> {
  const laws = options.laws ?? allLaws;
  const seed = options.seed ?? DEFAULT_SEED;
  const numRuns = options.numRuns ?? DEFAULT_RUNS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const run = { reference, seed, numRuns, path: options.path, timeoutMs };
  const startedAt = new Date().toISOString();
  const start = performance.now();
  const total = laws.length * targets.length;
  let done = 0;
  const stray = new StrayErrors();
  const backends: BackendReport[] = [];
  const extraNotes: string[] = [];
  const signal = options.signal;
  const stopIsolated = () => {
    for (const t of targets) {
      if (isIsolated(t)) t.session.kill();
      else for (const helper of t.helpers ?? []) helper.kill();
    }
  };
  signal?.addEventListener("abort", stopIsolated);
  try {
    for (const t of targets) {
      const target: Target = isIsolated(t) ? { backend: t.session.backend, args: t.args } : t;
      const backendStart = performance.now();
      const backend =
        !isIsolated(t) && t.guardSync ? guardSync(t.backend, timeoutMs) : target.backend;
      const runHere = (law: Law) =>
        isIsolated(t)
          ? t.session.runLaw(law, { seed, numRuns, path: options.path, timeoutMs })
          : runOneLaw(law, backend, run, stray);
      const helpers = (!isIsolated(t) && t.helpers) || [];
      const lanes = helpers.length
        ? helpers.map(
            (helper) => (law: Law) =>
              helper.runLaw(law, { seed, numRuns, path: options.path, timeoutMs }),
          )
        : [runHere];
      // With helpers, the large-tensor laws (those that cap their runs) start first, fewest runs
      // (the largest cases) first, so that no lane is left with one of them alone at the end:
      // I5j, one case past the grid limit, took 16 s of a 20 s cpu32 run when it started tenth.
      // The report keeps the catalogue's order.
      const order = laws.map((_, i) => i);
      const cap = (law: Law) => law.runs ?? Number.MAX_SAFE_INTEGER;
      if (lanes.length > 1) order.sort((a, b) => cap(laws[a]) - cap(laws[b]));
      let next = 0;
      const results: LawReport[] = [];
      await Promise.all(
        lanes.map(async (lane) => {
          while (next < order.length) {
            const i = order[next++];
            const law = laws[i];
            // Cut short: every law not run, or interrupted, is reported as not run (failed), so
            // that every writer still sees one result per law and backend, and none reads a pass.
            const result = signal?.aborted ? undefined : await lane(law);
            if (!result || signal?.aborted) {
              results[i] = lawReport(
                notRun(law, target.backend, signal?.reason, seed),
                target,
                options,
                seed,
                numRuns,
              );
              continue;
            }
            results[i] = lawReport(result, target, options, seed, numRuns);
            done++;
            options.onProgress?.({
              done,
              total,
              law,
              backend: target.backend.name,
              status: result.status,
            });
          }
        }),
      );
      if (isIsolated(t)) {
        const note = await t.session.close();
        if (note) extraNotes.push(note);
      }
      backends.push(backendReport(target, results, performance.now() - backendStart));
    }
  } finally {
    signal?.removeEventListener("abort", stopIsolated);
    stray.dispose();
  }
  const plain = targets.map((t) =>
    isIsolated(t) ? { backend: t.session.backend, args: t.args } : t,
  );
  const incomplete = done < total;
  if (incomplete) {
    extraNotes.push(
      `incomplete: the run was cut short after ${done} of ${total} law runs${signal?.aborted ? ` (${String(signal.reason ?? "aborted")})` : ""}; it does not pass`,
    );
  }
  const notes = [...(options.notes ?? []), ...extraNotes, ...warnings(plain, backends)];
  const totals = sumCounts(backends.map((b) => b.counts));
  const sel = options.selection ?? {};
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: "tensorlaws", version },
    startedAt,
    durationMs: performance.now() - start,
    settings: {
      seed,
      numRuns,
      path: options.path ?? null,
      timeoutMs,
      laws: sel.laws ? [...sel.laws] : null,
      ops: sel.ops ? [...sel.ops] : null,
      topics: sel.topics ? [...sel.topics] : null,
    },
    notes,
    ok: !incomplete && totals.failed === 0 && backends.every(verifiedSomething),
    totals,
    backends,
  };
}

/**
 * A kernel stuck in a synchronous loop never yields, so call.ts's timer cannot fire. Running
 * the kernel's synchronous part as a vm script with a timeout lets V8 stop it after the same
 * time; the asynchronous part stays under call.ts's timer.
 */
function guardSync(backend: Backend, timeoutMs: number): Backend {
  const context = vm.createContext({ run: (): unknown => undefined });
  const script = new vm.Script("run()");
  const kernels: Record<string, unknown> = {};
  for (const [op, kernel] of Object.entries(backend.kernels)) {
    if (typeof kernel !== "function") {
      kernels[op] = kernel;
      continue;
    }
    const k = kernel as (inputs: unknown, attrs: unknown) => unknown;
    kernels[op] = (inputs: unknown, attrs: unknown) => {
      context.run = () => k(inputs, attrs);
      try {
        return script.runInContext(context, { timeout: timeoutMs });
      } catch (e) {
        // A kernel may throw anything, undefined included.
        const code =
          typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
        if (code !== "ERR_SCRIPT_EXECUTION_TIMEOUT") throw e;
        throw new KernelContractError(
          op,
          backend.name,
          `did not return within ${timeoutMs} ms (stopped in a synchronous loop)`,
        );
      }
    };
  }
  // Everything else (name, dtype, rng, tolerances, getters) is read through the prototype.
  return Object.create(backend, { kernels: { value: kernels, enumerable: true } }) as Backend;
}

/** The result of a law a cut-short run never ran. */
function notRun(law: Law, backend: Backend, reason: unknown, seed: number): LawResult {
  const detail = `not run: the run was cut short (${String(reason ?? "aborted")})`;
  return {
    law,
    backend: backend.name,
    status: "failed",
    message: detail,
    failure: { kind: "error", detail, replay: { seed } },
    ms: 0,
  };
}

/** A law that calls no op (a fact of mathematics) says nothing about the backend. */
const verifiedSomething = (b: BackendReport) =>
  b.results.some((r) => r.status === "failed" || (r.status === "passed" && r.ops.length > 0));

/** What a reader must know about the backends themselves: misspelled or broken kernel entries,
 * and backends on which nothing was verified. */
function warnings(targets: readonly Target[], backends: readonly BackendReport[]): string[] {
  const notes: string[] = [];
  for (const { backend: b } of targets) {
    for (const [op, k] of Object.entries(b.kernels)) {
      if (!contractOps.includes(op as OpName)) {
        const like = contractOps.find((o) => loose(o) === loose(op));
        const hint = like ? `: did you mean '${like}'?` : "";
        notes.push(`${b.name}: kernel '${op}' is no op of the contract and is ignored${hint}`);
      } else if (typeof k !== "function") {
        notes.push(
          `${b.name}: kernel '${op}' is ${typeof k}, not a function (its laws report "not implemented")`,
        );
      }
    }
  }
  for (const b of backends) {
    if (!verifiedSomething(b)) {
      notes.push(
        `nothing was verified on ${b.name}: no selected law that calls one of its kernels ran`,
      );
    }
  }
  return notes;
}

/** An op name as a typo might spell it: softMax, soft-max and SOFTMAX all read softmax. */
const loose = (name: string) => name.toLowerCase().replace(/[-_]/g, "");

function budgetReport(backend: Backend, op: OpName): BudgetReport {
  const b = budgetFor(backend, op);
  // The same backend without its overrides.
  const d = budgetFor({ name: backend.name, dtype: backend.dtype, kernels: {} }, op);
  return {
    op,
    ulps: b.ulps,
    factor: b.factor,
    default: { ulps: d.ulps, factor: d.factor },
    overridden: b.overridden,
  };
}

/** Quotes an argument for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The command that replays one law on one backend with the same seed (and path). */
export function replayCommand(
  target: Target,
  lawId: string,
  replay: { seed: number; path?: string },
  options: { numRuns: number; timeoutMs?: number },
): string {
  const args = ["npx", "tensorlaws", "verify", ...target.args, "--laws", lawId];
  args.push("--seed", String(replay.seed));
  if (replay.path) args.push("--path", replay.path);
  else if (options.numRuns !== DEFAULT_RUNS) args.push("--runs", String(options.numRuns));
  if (options.timeoutMs !== undefined) args.push("--timeout", String(options.timeoutMs));
  return args.map(shellQuote).join(" ");
}

function lawReport(
  result: LawResult,
  target: Target,
  options: VerifyOptions,
  seed: number,
  numRuns: number,
): LawReport {
  const { law } = result;
  let failure: FailureReport | null = null;
  if (result.status === "failed") {
    const f = result.failure ?? { kind: "error", detail: result.message ?? "", replay: { seed } };
    const w = f.mismatch?.worst;
    failure = {
      kind: f.kind,
      message: f.detail,
      worst:
        f.mismatch && w
          ? {
              label: f.mismatch.label,
              failing: f.mismatch.failing,
              total: f.mismatch.total,
              coord: w.coord,
              actual: jsonNumber(w.actual),
              expected: jsonNumber(w.expected),
              abs: jsonNumber(w.abs),
              rel: jsonNumber(w.rel),
              ulps: jsonNumber(w.ulps),
              tol: jsonNumber(w.tol),
              rule: f.mismatch.rule ?? null,
            }
          : null,
      budgets: law.ops.map((op) => budgetReport(target.backend, op)),
      counterexample: f.counterexample ?? null,
      replay: {
        seed: f.replay.seed,
        path: f.replay.path || null,
        command: replayCommand(target, law.id, f.replay, {
          numRuns,
          timeoutMs: options.timeoutMs,
        }),
      },
    };
  }
  return {
    id: law.id,
    topic: law.topic,
    title: law.title,
    ops: [...law.ops],
    status: result.status,
    durationMs: result.ms,
    missing: result.missing ? [...result.missing] : [],
    statistical: law.statistical ? { ...law.statistical } : null,
    failure,
    budgetUse: budgetUseReport(result.budgetUse),
  };
}

function countOf(results: readonly LawReport[]): Counts {
  const n = (s: LawReport["status"]) => results.filter((r) => r.status === s).length;
  return {
    passed: n("passed"),
    failed: n("failed"),
    notImplemented: n("not implemented"),
    notApplicable: n("not applicable"),
  };
}

function sumCounts(all: readonly Counts[]): Counts {
  const sum: Counts = { passed: 0, failed: 0, notImplemented: 0, notApplicable: 0 };
  for (const c of all) {
    sum.passed += c.passed;
    sum.failed += c.failed;
    sum.notImplemented += c.notImplemented;
    sum.notApplicable += c.notApplicable;
  }
  return sum;
}

function backendReport(target: Target, results: LawReport[], ms: number): BackendReport {
  const b = target.backend;
  return {
    name: b.name,
    dtype: b.dtype,
    description: describeBackend(b),
    target: [...target.args],
    rng: b.rng ?? null,
    tolerances: Object.keys(b.tolerances ?? {}).map((op) => budgetReport(b, op as OpName)),
    unknownKernels: Object.keys(b.kernels).filter((k) => !contractOps.includes(k as OpName)),
    durationMs: ms,
    counts: countOf(results),
    results,
    budgetUse: mergeBudgetUse(results.map((r) => r.budgetUse)),
  };
}

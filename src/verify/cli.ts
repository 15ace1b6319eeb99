/**
 * `tensorlaws [verify] [module…] [options]`: checks backends against the laws and reports.
 * The package's bin (bin/tensorlaws.mjs) registers tsx and calls `main`; tests call it
 * in-process with their own output streams.
 *
 * Exit codes: 0 every law that applies passed; 1 a law failed (or nothing could be verified);
 * 2 bad usage (unknown option, missing module, a default export that is not a backend).
 */
import { existsSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Backend, OpName } from "../engine/contract.ts";
import { describeThrown } from "../engine/errors.ts";
import { createWebGpuBackend } from "../engine/webgpu/index.ts";
import { allMutants } from "../selftest/buggy/index.ts";
import {
  allBuiltinBackends,
  BackendModuleError,
  builtinBackends,
  loadBackend,
} from "./backends.ts";
import { gridReach, gridsTable } from "./grids.ts";
import { LOAD_MS, ModuleLoadError, ModuleSession } from "./isolate.ts";
import { jsonReport } from "./report/json.ts";
import { junitReport } from "./report/junit.ts";
import { markdownReport } from "./report/markdown.ts";
import type { Report } from "./report/schema.ts";
import { terminalReport } from "./report/terminal.ts";
import { lawReach, sizesTable } from "./sizes.ts";
import {
  contractOps,
  DEFAULT_RUNS,
  DEFAULT_SEED,
  DEFAULT_TIMEOUT_MS,
  type IsolatedTarget,
  type Progress,
  type Selection,
  SelectionError,
  selectLaws,
  type Target,
  verify,
} from "./verify.ts";

/** Most processes `--jobs` starts by default: the laws of one backend hardly fill more. */
const MAX_JOBS = 4;

export const USAGE = `Usage: tensorlaws [verify] [module…] [options]
       tensorlaws serve [--port N]   a page that runs the laws on your own GPU (serve --help)

Checks backends against every law that applies to them. A module's default export is a backend
{ name, dtype, kernels } (or a promise of one), in TypeScript or JavaScript. With no module,
mutant or shader, checks the built-in backends (cpu, cpu32, and webgpu when an adapter exists).

Backends:
  <module>                  a backend module (./my-backend.ts); several may follow
  --builtin NAME[,NAME]     built-in backends: cpu, cpu32, webgpu
  --mutant NAME[,NAME]      a shipped known-bad kernel (--mutants lists them)
  --wgsl OP=FILE            a raw WGSL shader as the kernel of OP (repeatable: one backend)

Laws (filters combine; each narrows the selection):
  --laws ID[,ID]            law ids (--list shows them); a trailing * matches a prefix: B5*
  --ops OP[,OP]             laws that call one of these ops
  --topics T[,T]            likelihood, softmax, activations, init, dropout, normalization,
                            backprop, regularization, engine

Runs:
  --runs N                  cases per property (default ${DEFAULT_RUNS})
  --seed S                  seed of every property and random draw (default ${DEFAULT_SEED});
                            an integer in [0, 2^32): fast-check seeds are 32-bit
  --path P                  fast-check path that replays one failure (from a replay line)
  --timeout MS              milliseconds before a kernel call counts as hung (default ${DEFAULT_TIMEOUT_MS},
                            at most 2^31 - 1). Each module runs in a supervised child process:
                            a kernel that hangs, loops, exits or crashes fails the law it ran,
                            and the next law runs in a fresh process
  --load-timeout MS         milliseconds a module may take to load in its process before it
                            counts as hung (default: the larger of ${LOAD_MS} and 1.5 × --timeout)
  --trust-kernels           run modules in this process, unsupervised (an endless loop or an
                            exit then ends the run, as it would for the built-ins)
  --jobs N                  processes that share the laws of the built-in cpu32, each taking the
                            next law as it finishes one; the report is the same (default: the
                            cores, at most ${MAX_JOBS}; 1 runs them in this process)

Reports (the terminal summary always prints):
  --json FILE               machine-readable report (schema in src/verify/report/schema.ts)
  --markdown FILE           for a pull-request comment
  --junit FILE              JUnit XML for CI systems
  --html FILE               one self-contained HTML file: verdicts, budget use, ULP ledger and
                            the notes' pictures, plotted (opens offline)

Other:
  --list                    the catalogue of laws (Markdown table); filters apply
  --mutants                 the known-bad kernels and the laws that reject them
  --sizes                   where each law reaches: per op the largest input, ranks and empty
                            tensors its laws hand a kernel (measured on cpu32); filters apply
  --grids                   where the laws reach the built-in WebGPU kernels: per pipeline, its
                            launches and the most workgroups one used, on this adapter;
                            filters apply
  --help                    this text

Exit codes: 0 every law that applies passed; 1 a law failed, nothing could be verified, or
the run was cut short (SIGINT, SIGTERM: the reports are still written, marked incomplete); 2 bad usage (unknown option, module not found, default export not a backend).
Environment: TENSORLAWS_RUNS, TENSORLAWS_SEED and TENSORLAWS_JOBS set the defaults of --runs,
--seed and --jobs;
TENSORLAWS_REQUIRE_GPU=1 makes a missing WebGPU adapter an error (exit 2);
TENSORLAWS_WEBGPU=0 leaves webgpu out of the default built-ins; NO_COLOR turns colours off.
`;

/** Where the CLI writes; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Progress and colours only on a terminal. */
  outIsTTY: boolean;
  errIsTTY: boolean;
  env: Record<string, string | undefined>;
}

const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  outIsTTY: process.stdout.isTTY === true,
  errIsTTY: process.stderr.isTTY === true,
  env: process.env,
};

/** Bad usage: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const options = {
  help: { type: "boolean", short: "h" },
  list: { type: "boolean" },
  sizes: { type: "boolean" },
  grids: { type: "boolean" },
  mutants: { type: "boolean" },
  builtin: { type: "string", multiple: true },
  mutant: { type: "string", multiple: true },
  wgsl: { type: "string", multiple: true },
  laws: { type: "string", multiple: true },
  ops: { type: "string", multiple: true },
  topics: { type: "string", multiple: true },
  "trust-kernels": { type: "boolean" },
  runs: { type: "string" },
  seed: { type: "string" },
  path: { type: "string" },
  timeout: { type: "string" },
  "load-timeout": { type: "string" },
  jobs: { type: "string" },
  json: { type: "string" },
  markdown: { type: "string" },
  junit: { type: "string" },
  html: { type: "string" },
} as const;

type Parsed = ReturnType<typeof parse>;

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/** `--laws B1,B2 --laws C1` → ["B1", "B2", "C1"]; an option given with nothing in it is bad usage. */
function list(values: readonly string[] | undefined, name = "option"): string[] | undefined {
  const items = values
    ?.flatMap((v) => v.split(","))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items?.length === 0) throw new UsageError(`--${name} needs at least one name, got ''`);
  return items;
}

function integer(
  name: string,
  value: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
  why = "",
): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]${why}`;
    throw new UsageError(`--${name} needs an integer ${range}, got '${value}'`);
  }
  return n;
}

/** `--list`: the catalogue of laws as a Markdown table (id, claim, the note it encodes). */
function listLaws(selection: Selection): string {
  const rows = selectLaws(selection).map((l) => `| ${l.id} | ${l.title} | ${l.note} |`);
  return `| id | law | why (note) |\n|---|---|---|\n${rows.join("\n")}\n`;
}

/** `--mutants`: the known-bad kernels and the laws that must reject each. */
function listMutants(): string {
  const rows = allMutants.map((m) => `| ${m.backend.name} | ${m.bug} | ${m.caughtBy.join(", ")} |`);
  return `| known-bad backend | bug | rejected by |\n|---|---|---|\n${rows.join("\n")}\n`;
}

/** Report files are checked before the run, so that a typo does not cost a whole run. */
function reportFiles(args: Parsed["values"]): [path: string, write: (r: Report) => string][] {
  const files: [string | undefined, (r: Report) => string][] = [
    [args.json, jsonReport],
    [args.markdown, markdownReport],
    [args.junit, junitReport],
    [args.html, () => ""],
  ];
  const chosen = files.filter((f): f is [string, (r: Report) => string] => f[0] !== undefined);
  const seen = new Set<string>();
  for (const [path] of chosen) {
    const full = resolve(path);
    if (seen.has(full)) {
      throw new UsageError(`cannot write two reports to ${path}: give each report its own file`);
    }
    seen.add(full);
    if (!existsSync(dirname(full))) {
      throw new UsageError(`cannot write ${path}: its directory does not exist`);
    }
    if (existsSync(full) && statSync(full).isDirectory()) {
      throw new UsageError(`cannot write ${path}: it is a directory`);
    }
  }
  return chosen;
}

/** Dawn's binding is an optional peer dependency: say how to get it when it is missing. */
function withInstallHint(reason: string): string {
  return reason.includes("Cannot find package 'webgpu'")
    ? `${reason} (the WebGPU backend needs the optional peer dependency: npm i -D webgpu)`
    : reason;
}

function noAdapterBanner(reason: string): string {
  const line = "=".repeat(78);
  return `${line}\nNO WEBGPU ADAPTER: the WebGPU laws will not run.\n${reason}.\nSet TENSORLAWS_REQUIRE_GPU=1 to make this an error.\n${line}\n`;
}

/** The backends the arguments name, each with the arguments that select it again. */
async function targetsOf(
  args: Parsed,
  io: Io,
  notes: string[],
  opened: Backend[],
  sessions: ModuleSession[],
  timeoutMs: number,
  loadTimeoutMs: number | undefined,
  helpers: number,
  helping: Promise<unknown>[],
): Promise<(Target | IsolatedTarget)[]> {
  const targets: (Target | IsolatedTarget)[] = [];
  const add = (backend: Backend, targetArgs: string[], guardSync = false, module?: string) => {
    opened.push(backend);
    const target: Target = { backend, args: targetArgs, guardSync };
    targets.push(target);
    // cpu32 shares its laws with helper processes that load the same backend.
    if (!module || helpers < 1) return;
    const ready: ModuleSession[] = [];
    target.helpers = ready;
    // Our own module: a helper that fails to start only leaves the laws to the others (and to
    // this process when none started).
    for (let i = 0; i < helpers; i++) {
      helping.push(
        ModuleSession.open(module, { timeoutMs, loadTimeoutMs }).then((session) => {
          sessions.push(session);
          ready.push(session);
        }),
      );
    }
  };
  const positionals =
    args.positionals[0] === "verify" ? args.positionals.slice(1) : args.positionals;
  const builtins = list(args.values.builtin, "builtin");
  const mutants = list(args.values.mutant, "mutant");
  const shaders = args.values.wgsl;

  if (!positionals.length && !builtins && !mutants && !shaders) {
    const found = await allBuiltinBackends(io.env);
    for (const b of found.backends) add(b, ["--builtin", b.name], false, builtinModule(b.name));
    if (found.noAdapter) {
      if (io.env.TENSORLAWS_REQUIRE_GPU === "1") {
        throw new UsageError(`TENSORLAWS_REQUIRE_GPU=1 but ${found.noAdapter}`);
      }
      const reason = withInstallHint(found.noAdapter);
      io.err(noAdapterBanner(reason));
      notes.push(`no WebGPU adapter: the WebGPU laws did not run (${reason})`);
    }
    await Promise.allSettled(helping);
    return targets;
  }

  for (const name of builtins ?? []) {
    const cpu = builtinBackends().find((b) => b.name === name);
    if (cpu) add(cpu, ["--builtin", name], false, builtinModule(name));
    else if (name === "webgpu") {
      const gpu = await createWebGpuBackend().catch((e: unknown) => {
        throw new UsageError(
          `--builtin webgpu: ${withInstallHint(e instanceof Error ? e.message : String(e))}`,
        );
      });
      if (!gpu) throw new UsageError("--builtin webgpu: no WebGPU adapter was found");
      add(gpu, ["--builtin", name]);
    } else throw new UsageError(`--builtin ${name}: the built-ins are cpu, cpu32 and webgpu`);
  }
  for (const name of mutants ?? []) {
    const m = allMutants.find((x) => x.backend.name === name);
    if (!m)
      throw new UsageError(
        `--mutant ${name}: no such known-bad kernel (tensorlaws --mutants lists them)`,
      );
    add(m.backend, ["--mutant", name]);
  }
  // Code we did not write runs in supervised child processes, one per module, started together:
  // as many at a time as there are cores, not counting a module whose load only waits.
  const opening = args.values["trust-kernels"]
    ? []
    : limited(positionals, availableParallelism(), (path, release) =>
        ModuleSession.open(path, { timeoutMs, loadTimeoutMs, onWaiting: release }),
      );
  for (const o of opening) o.then((s) => sessions.push(s)).catch(() => {});
  for (const [i, path] of positionals.entries()) {
    try {
      if (args.values["trust-kernels"]) add(await loadBackend(path), [path]);
      else {
        const session = await opening[i];
        targets.push({ session, backend: session.backend, args: [path] });
      }
    } catch (e) {
      if (e instanceof BackendModuleError || e instanceof ModuleLoadError) {
        // The others may still be starting: they must not outlive the usage error.
        await Promise.allSettled(opening);
        throw new UsageError(e.message);
      }
      throw e;
    }
  }
  if (shaders)
    add(
      await wgslBackend(shaders),
      shaders.flatMap((s) => ["--wgsl", s]),
    );
  await Promise.allSettled(helping);
  return targets;
}

/**
 * The module a helper process loads for a built-in (src/verify/builtins/): cpu32 only. The
 * reference, cpu, skips the large-tensor laws (it is what they compare with), which it can only
 * tell in the process that holds the reference itself: 2-5 s here, against 26 s in helpers.
 */
function builtinModule(name: string): string | undefined {
  if (name !== "cpu32") return undefined;
  return fileURLToPath(new URL(`./builtins/${name}.ts`, import.meta.url));
}

/** How long a backend's dispose() may take at the end of a run. */
const DISPOSE_MS = 10_000;

/**
 * `f` of each item, at most `n` at a time (starting processes: more than cores only thrash).
 * `f` may give its place up early with `release` (a process that only waits), once.
 */
function limited<T, R>(
  items: readonly T[],
  n: number,
  f: (item: T, release: () => void) => Promise<R>,
): Promise<R>[] {
  let running = 0;
  const queue: (() => void)[] = [];
  return items.map(async (item) => {
    if (running >= n) await new Promise<void>((go) => queue.push(go));
    running++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      running--;
      queue.shift()?.();
    };
    try {
      return await f(item, release);
    } finally {
      release();
    }
  });
}

/** Thrown when the kernel under test itself is broken before any law ran (exit 1, not 2). */
class BrokenKernelError extends Error {}

async function wgslBackend(specs: readonly string[]): Promise<Backend> {
  const shaders = specs.map((spec) => {
    const eq = spec.indexOf("=");
    const op = spec.slice(0, eq);
    const path = spec.slice(eq + 1);
    if (eq < 1 || !path)
      throw new UsageError(`--wgsl ${spec}: expected OP=FILE, e.g. softmax=./softmax.wgsl`);
    if (!contractOps.includes(op as OpName))
      throw new UsageError(`--wgsl ${spec}: '${op}' is not an op of the contract`);
    if (!existsSync(path)) throw new UsageError(`--wgsl ${spec}: no such file ${resolve(path)}`);
    return { op: op as OpName, path };
  });
  let adapter: typeof import("./wgsl-adapter.ts");
  try {
    // Loaded on demand: it pulls in the WebGPU runtime, which only --wgsl needs.
    adapter = await import("./wgsl-adapter.ts");
  } catch (e) {
    throw new UsageError(
      `--wgsl: the WGSL adapter could not be loaded (${e instanceof Error ? e.message : String(e)})`,
    );
  }
  try {
    return await adapter.createWgslBackend(shaders);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof adapter.WgslCompileError) throw new BrokenKernelError(`--wgsl: ${message}`);
    throw new UsageError(`--wgsl: ${message}`);
  }
}

/** Laws done / total on one rewritten stderr line, at most ten times a second. */
function progressLine(io: Io): { update(p: Progress): void; clear(): void } {
  if (!io.errIsTTY) return { update() {}, clear() {} };
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const now = performance.now();
      if (now - last < 100 && p.done < p.total) return;
      last = now;
      shown = true;
      const width = String(p.total).length;
      io.err(`\r\x1b[K[${String(p.done).padStart(width)}/${p.total}] ${p.backend} ${p.law.id}`);
    },
    clear() {
      if (shown) io.err("\r\x1b[K");
    },
  };
}

/** Runs the CLI; returns the exit code. Never lets a backend's failure escape as an exception. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  if (argv[0] === "serve") {
    // Loaded on demand: it bundles the page with esbuild.
    const { serveMain } = await import("./serve.ts");
    return serveMain(argv.slice(1), io);
  }
  const opened: Backend[] = [];
  const sessions: ModuleSession[] = [];
  // Helper processes still starting when a usage error cuts the run short: killed once started.
  const helping: Promise<unknown>[] = [];
  // SIGINT or SIGTERM cuts the run short: the reports are still written, marked incomplete.
  const cut = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => cut.abort(`stopped by ${signal}`);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const args = parse(argv);
    const v = args.values;
    if (v.help) {
      io.out(USAGE);
      return 0;
    }
    const selection: Selection = {
      laws: list(v.laws, "laws"),
      ops: list(v.ops, "ops"),
      topics: list(v.topics, "topics"),
    };
    if (v.list) {
      io.out(listLaws(selection));
      return 0;
    }
    if (v.mutants) {
      io.out(listMutants());
      return 0;
    }
    // The same variables the vitest suite reads; a flag wins.
    const runOptions = {
      numRuns: integer("runs", v.runs ?? io.env.TENSORLAWS_RUNS, 1),
      seed: integer(
        "seed",
        v.seed ?? io.env.TENSORLAWS_SEED,
        0,
        2 ** 32 - 1,
        " (fast-check seeds are 32-bit)",
      ),
      // setTimeout holds a signed 32-bit delay: a larger one fires at once.
      timeoutMs: integer("timeout", v.timeout, 1, 2 ** 31 - 1, " (setTimeout's limit)"),
      path: v.path,
    };
    if (v.sizes) {
      io.out(sizesTable(await lawReach(selectLaws(selection), { seed: runOptions.seed })));
      return 0;
    }
    if (v.grids) {
      const gpu = await createWebGpuBackend().catch((e: unknown) => {
        throw new UsageError(
          `--grids: ${withInstallHint(e instanceof Error ? e.message : String(e))}`,
        );
      });
      if (!gpu) {
        throw new UsageError(
          "--grids measures the built-in WebGPU backend, and no WebGPU adapter was found",
        );
      }
      try {
        io.out(gridsTable(await gridReach(selectLaws(selection), gpu, runOptions), gpu));
      } finally {
        await gpu.dispose();
      }
      return 0;
    }
    const laws = selectLaws(selection);
    // The same bounds as --timeout's, for one rule of thumb.
    const loadTimeoutMs = integer("load-timeout", v["load-timeout"], 1, 2 ** 31 - 1);
    const jobs =
      integer("jobs", v.jobs ?? io.env.TENSORLAWS_JOBS, 1, 64) ??
      Math.min(availableParallelism(), MAX_JOBS);
    if (v.path !== undefined && !/^\d+(:\d+)*$/.test(v.path)) {
      throw new UsageError(`--path needs a fast-check path like 4:1:0, got '${v.path}'`);
    }
    // A path replays one property's failure; on another law's property it means nothing.
    if (v.path !== undefined && laws.length !== 1) {
      throw new UsageError(
        `--path replays one law: select exactly one with --laws (${laws.length} selected)`,
      );
    }
    const files = reportFiles(v);
    const notes: string[] = [];
    const targets = await targetsOf(
      args,
      io,
      notes,
      opened,
      sessions,
      runOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      loadTimeoutMs,
      // One law alone, or a replay, gains nothing from a second process.
      laws.length > 1 && jobs > 1 ? jobs : 0,
      helping,
    );
    const progress = progressLine(io);
    const report = await verify(targets, {
      ...runOptions,
      laws,
      selection,
      notes,
      onProgress: progress.update,
      signal: cut.signal,
    });
    progress.clear();
    io.out(terminalReport(report, { color: io.outIsTTY && !io.env.NO_COLOR }));
    for (const [path, write] of files) if (path !== v.html) writeFileSync(path, write(report));
    if (v.html) {
      // Loaded on demand: it bundles Observable Plot with esbuild and computes the pictures.
      const { htmlExtras, htmlReport } = await import("./report/html.ts");
      // The ledger calls kernels here: never those of a module isolated in its child process.
      const inProcess = targets.filter((t) => !("session" in t)).map((t) => t.backend);
      const extras = await htmlExtras(inProcess);
      writeFileSync(v.html, await htmlReport(report, extras));
    }
    return report.ok ? 0 : 1;
  } catch (e) {
    if (e instanceof UsageError || e instanceof SelectionError) {
      io.err(`tensorlaws: ${e.message}\nRun tensorlaws --help for usage.\n`);
      return 2;
    }
    if (e instanceof BrokenKernelError) {
      io.err(`tensorlaws: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await Promise.allSettled(helping);
    for (const s of sessions) s.kill();
    // A live WebGPU device keeps Node running.
    for (const b of opened) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        // A dispose() that never settles must not hang the command after its summary.
        const late = new Promise<"late">((ok) => {
          timer = setTimeout(() => ok("late"), DISPOSE_MS);
        });
        if ((await Promise.race([b.dispose?.(), late])) === "late") {
          io.err(`tensorlaws: disposing ${b.name} did not finish within ${DISPOSE_MS} ms\n`);
        }
      } catch (e) {
        io.err(`tensorlaws: disposing ${b.name} failed: ${describeThrown(e)}\n`);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

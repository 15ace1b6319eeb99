/**
 * A law is data: an id, the sentence it proves, the note it encodes, the ops it needs and a
 * check that runs against any backend. The same law objects drive vitest and the CLI.
 */
import fc from "fast-check";
import { call } from "../engine/call.ts";
import type { Attrs, Backend, Inputs, OpName, Output } from "../engine/contract.ts";
import { KernelContractError } from "../engine/errors.ts";
import {
  type AnyTensor,
  cast,
  dtypeOf,
  type FloatDType,
  type Tensor,
  tensor,
} from "../engine/tensor.ts";
import { toleranceFields } from "./budgets.ts";
import {
  budgetFor,
  compare,
  formatMismatch,
  type Mismatch,
  type ToleranceField,
  unitRoundoff,
} from "./tolerance.ts";

export type Topic =
  | "likelihood"
  | "softmax"
  | "activations"
  | "init"
  | "dropout"
  | "normalization"
  | "backprop"
  | "regularization"
  | "engine";

/** What a statistical law promises: its test, false-alarm rate, and what it is sure to catch. */
export interface Statistical {
  test: string;
  alpha: number;
  detects: string;
}

export interface Law {
  /** Catalog id from LAWS.md, with a suffix where one catalog line became several laws (B5a). */
  id: string;
  topic: Topic;
  /** The claim, as a sentence a learner can read. */
  title: string;
  /** Which note the law encodes and why it matters, in our own words. */
  note: string;
  /** Every op the check calls; a backend lacking one gets "not implemented". */
  ops: readonly OpName[];
  /** Restricts the law to some backends (e.g. mask equality needs Philox). */
  appliesTo?: (backend: Backend) => boolean;
  statistical?: Statistical;
  /** At most this many property cases: laws of large tensors run fewer than the default. */
  runs?: number;
  check(ctx: LawContext): Promise<void>;
}

/** How a property failed, kept apart from the message so that reports can lay it out. */
export interface Evidence {
  /** The error inside the property, without the counterexample and replay lines. */
  detail: string;
  /** The shrunk counterexample, as fast-check prints it (cut at 600 characters). */
  counterexample: string;
  shrinks: number;
  /** False when shrinking was abandoned because a kernel call timed out (each retry would
   * wait out the timeout again): the counterexample is the first failing case. */
  shrunk: boolean;
  seed: number;
  path: string;
  /** The error the property threw when it was not a LawViolation (a kernel breaking the contract). */
  cause?: unknown;
}

/** A law's claim did not hold; the message carries everything needed to understand and replay. */
export class LawViolation extends Error {
  constructor(
    message: string,
    readonly mismatch?: Mismatch,
    readonly evidence?: Evidence,
  ) {
    super(message);
    this.name = "LawViolation";
  }
}

export interface RunOptions {
  /** fast-check runs per property (default 100, or TENSORLAWS_RUNS). */
  numRuns?: number;
  /** Seed for every property and random draw (default 20261122, or TENSORLAWS_SEED). */
  seed?: number;
  /** fast-check replay path of a failure (TENSORLAWS_PATH). */
  path?: string;
  /** Per-kernel-call timeout in ms. */
  timeoutMs?: number;
  /** The float64 backend values are compared against. */
  reference: Backend;
}

type Shaped = { shape: readonly number[]; data: ArrayLike<number> };

export class LawContext {
  readonly dtype: FloatDType;
  /** Unit roundoff of the backend's dtype. */
  readonly u: number;
  readonly numRuns: number;
  readonly seed: number;
  /** Set once a kernel call timed out: shrinking stops rather than wait out every retry. */
  private hung = false;
  /** Per op, the share of its budget each call compared with the reference used (budgetShare):
   * how close to failing the kernel came, for the HTML report's plots. */
  readonly budgetUse = new Map<string, number[]>();
  /** Per op, the largest and the shapes of what this law handed the backend (`--sizes`). */
  readonly reach = new Map<string, Reach>();
  constructor(
    readonly law: Law,
    readonly backend: Backend,
    readonly options: RunOptions,
  ) {
    this.dtype = backend.dtype;
    this.u = unitRoundoff(backend.dtype);
    this.numRuns = Math.min(options.numRuns ?? 100, law.runs ?? Number.POSITIVE_INFINITY);
    this.seed = options.seed ?? 20261122;
  }

  /** A tensor in the backend's dtype. */
  t(shape: readonly number[], values: ArrayLike<number> | number): Tensor {
    return tensor(this.dtype, shape, values);
  }

  /** Runs an op on the backend under test (validated, contract-checked). */
  async call<O extends OpName>(op: O, inputs: Inputs<O>, attrs: Attrs<O>): Promise<Output<O>> {
    // `ops` says which kernels a law needs ("not implemented" otherwise) and which kernels it
    // judges: a call outside it is a bug in the law.
    if (!this.law.ops.includes(op)) {
      throw new Error(`law ${this.law.id} calls ${op}, which its ops do not list`);
    }
    recordReach(this.reach, op, inputs, attrs);
    try {
      return await call(this.backend, op, inputs, attrs, { timeoutMs: this.options.timeoutMs });
    } catch (e) {
      if (e instanceof KernelContractError && e.reason.startsWith("did not return within")) {
        this.hung = true;
      }
      throw e;
    }
  }

  /** Runs an op on the float64 reference, on the same values as the backend saw. */
  ref<O extends OpName>(op: O, inputs: Inputs<O>, attrs: Attrs<O>): Promise<Output<O>> {
    const widened: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(inputs as Record<string, unknown>)) {
      const t = v as AnyTensor;
      widened[k] = t && dtypeOf(t) !== "int32" ? cast(t as Tensor, "float64") : v;
    }
    return call(this.options.reference, op, widened as Inputs<O>, attrs);
  }

  fail(message: string, mismatch?: Mismatch): never {
    throw new LawViolation(message, mismatch);
  }

  expect(condition: boolean, message: string): void {
    if (!condition) this.fail(message);
  }

  /** Elementwise |actual − expected| ≤ tol; NaN must meet NaN and ±∞ itself. */
  expectClose(
    label: string,
    actual: Shaped,
    expected: ArrayLike<number>,
    tol: number | ArrayLike<number>,
    rule?: string,
  ): void {
    const m = compare(label, actual.data, expected, tol, actual.shape, this.dtype, rule);
    if (m.failing > 0) this.fail(formatMismatch(m), m);
  }

  /**
   * The exact (float64 reference) outputs of `op` on these inputs and the tolerance field the
   * op's budget grants a correct kernel of this backend's dtype, per output.
   */
  async budget<O extends OpName>(
    op: O,
    inputs: Inputs<O>,
    attrs: Attrs<O>,
  ): Promise<{ expected: Output<O>; fields: Record<string, ToleranceField> }> {
    const expected = await this.ref(op, inputs, attrs);
    const widened: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(inputs as Record<string, unknown>)) {
      const t = v as AnyTensor;
      widened[k] = t && dtypeOf(t) !== "int32" ? cast(t as Tensor, "float64") : v;
    }
    const fields = toleranceFields(
      op,
      widened as Inputs<O>,
      attrs,
      expected,
      this.dtype,
      budgetFor(this.backend, op),
    );
    // The exact value as the backend's dtype can hold it: beyond float32's range it is ±∞.
    return { expected: roundOutputs(expected, this.dtype), fields };
  }

  /**
   * Calls `op` on the backend and on the float64 reference and compares every output within
   * the op's budget for this dtype. Returns the backend's output.
   */
  async expectMatchesReference<O extends OpName>(
    op: O,
    inputs: Inputs<O>,
    attrs: Attrs<O>,
  ): Promise<Output<O>> {
    const actual = await this.call(op, inputs, attrs);
    const { expected, fields } = await this.budget(op, inputs, attrs);
    const budget = budgetFor(this.backend, op);
    const single = "shape" in (expected as object);
    let share = 0;
    for (const [key, { tol, rule }] of Object.entries(fields)) {
      const a = (single ? actual : (actual as Record<string, Tensor>)[key]) as Tensor;
      const e = (single ? expected : (expected as Record<string, Tensor>)[key]) as Tensor;
      const label = `${op}${single ? "" : `.${key}`} vs float64 reference`;
      const budgetNote = `${budget.ulps} ULP, factor ${budget.factor}${budget.overridden ? ` (overridden by ${this.backend.name})` : ""}`;
      const m = compare(label, a.data, e.data, tol, a.shape, this.dtype, `${rule} [${budgetNote}]`);
      share = Math.max(share, budgetShare(a.data, e.data, tol));
      if (m.failing > 0) {
        this.recordBudgetUse(op, share);
        this.fail(formatMismatch(m), m);
      }
    }
    this.recordBudgetUse(op, share);
    return actual;
  }

  /**
   * Two computations of `op` on the same inputs by this backend (on host tensors and on device
   * tensors, say): each may miss the exact value by the op's budget, so they may differ by twice
   * it, and no more. Unlike `expectMatchesReference`, an op the backend gets wrong both ways passes
   * here: that is the other laws' finding.
   */
  async expectAgree<O extends OpName>(
    what: string,
    op: O,
    inputs: Inputs<O>,
    attrs: Attrs<O>,
    actual: Output<O>,
    other: Output<O>,
  ): Promise<void> {
    const { expected, fields } = await this.budget(op, inputs, attrs);
    const single = "shape" in (expected as object);
    const pick = (o: Output<O>, key: string) =>
      (single ? o : (o as Record<string, Tensor>)[key]) as Tensor;
    for (const [key, { tol, rule }] of Object.entries(fields)) {
      const [a, b] = [pick(actual, key), pick(other, key)];
      const label = `${op}${single ? "" : `.${key}`} ${what}`;
      const m = compare(
        label,
        a.data,
        b.data,
        tol.map((t) => 2 * t),
        a.shape,
        this.dtype,
        `2 × (${rule})`,
      );
      if (m.failing > 0) this.fail(formatMismatch(m), m);
    }
  }

  private recordBudgetUse(op: string, share: number): void {
    const shares = this.budgetUse.get(op);
    if (shares) shares.push(share);
    else this.budgetUse.set(op, [share]);
  }

  /**
   * Checks a property over generated cases (fast-check), seeded; on failure reports the shrunk
   * counterexample, the seed and the path to replay it.
   */
  async property<Ts extends [unknown, ...unknown[]]>(
    ...args: [
      ...arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
      predicate: (...values: Ts) => Promise<void> | void,
    ]
  ): Promise<void> {
    const predicate = args.pop() as (...values: Ts) => Promise<void> | void;
    const arbs = args as unknown as { [K in keyof Ts]: fc.Arbitrary<Ts[K]> };
    const prop = fc.asyncProperty<Ts>(...arbs, async (...values: Ts) => {
      // A skipped case does not count as failing, so the shrinker keeps the first failure.
      if (this.hung) fc.pre(false);
      await predicate(...values);
    });
    const result = await fc.check(prop, {
      numRuns: this.numRuns,
      seed: this.seed,
      ...(this.options.path ? { path: this.options.path } : {}),
    });
    if (!result.failed) return;
    const err = result.errorInstance;
    const violation = err instanceof LawViolation ? err : undefined;
    const full = fc.stringify(result.counterexample);
    const evidence: Evidence = {
      detail: err instanceof Error ? err.message : String(err),
      counterexample: full.length > 600 ? `${full.slice(0, 600)}…` : full,
      shrinks: result.numShrinks,
      shrunk: !this.hung,
      seed: result.seed,
      path: result.counterexamplePath ?? "",
      ...(violation ? {} : { cause: err }),
    };
    const shrinkNote = evidence.shrunk
      ? `shrunk ${evidence.shrinks} times`
      : "not shrunk: a kernel call timed out";
    const message = [
      evidence.detail,
      `counterexample (${shrinkNote}): ${evidence.counterexample}`,
      `replay: TENSORLAWS_SEED=${evidence.seed} TENSORLAWS_PATH=${evidence.path} npx vitest run -t "${this.law.id} "`,
    ].join("\n");
    throw new LawViolation(message, violation?.mismatch, evidence);
  }

  /** A deterministic source of seeds for kernels that draw random numbers (dropout, init). */
  seedFor(i: number): number {
    return (this.seed * 7919 + i * 104729) % 2 ** 31;
  }
}

/**
 * The largest |actual − expected| / tolerance over the elements: 0 when exact, ≤ 1 within the
 * budget, ∞ where NaN or ±∞ does not meet itself.
 */
export function budgetShare(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: ArrayLike<number>,
): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(e)) {
      if (Number.isNaN(e) ? !Number.isNaN(a) : a !== e) return Number.POSITIVE_INFINITY;
      continue;
    }
    const d = Math.abs(a - e);
    if (d === 0) continue;
    const share = tol[i] > 0 ? d / tol[i] : Number.POSITIVE_INFINITY;
    worst = Number.isNaN(share) ? Number.POSITIVE_INFINITY : Math.max(worst, share);
  }
  return worst;
}

function roundOutputs<T>(out: T, dtype: FloatDType): T {
  if ("shape" in (out as object)) return cast(out as Tensor, dtype) as T;
  const rounded: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(out as Record<string, Tensor>)) rounded[k] = cast(v, dtype);
  return rounded as T;
}

export type LawStatus = "passed" | "failed" | "not implemented" | "not applicable";

/**
 * Why a law failed: its claim did not hold ("violation"), a kernel broke the contract (threw,
 * hung, wrong shape or dtype, mutated an input: "contract"), or something else threw ("error").
 */
export type FailureKind = "violation" | "contract" | "error";

export interface Failure {
  kind: FailureKind;
  /** The error's own message, without the counterexample and replay lines. */
  detail: string;
  /** The worst mismatch, when the law compared values. */
  mismatch?: Mismatch;
  /** The generated case that fails, when the law is a property. */
  counterexample?: { value: string; shrinks: number; shrunk: boolean };
  /** What replays the failure: the seed, and fast-check's path when the law is a property. */
  replay: { seed: number; path?: string };
}

export interface LawResult {
  law: Law;
  backend: string;
  status: LawStatus;
  /** The whole failure as text (detail, counterexample, replay line). */
  message?: string;
  failure?: Failure;
  missing?: OpName[];
  ms: number;
  /** Per op, the share of its budget each call compared with the reference used (see
   * budgetShare; absent when the law compared no op within its budget). */
  budgetUse?: Record<string, number[]>;
  /** Per op the law called: the largest input and the ranks it reached. */
  reach?: Record<string, Reach>;
}

/** How far a law took an op: its largest input tensor, the ranks seen, and whether any input
 * was empty. Measured on the calls the law made, so a report can show where each law reaches. */
export interface Reach {
  calls: number;
  maxElements: number;
  maxShape: number[];
  ranks: number[];
  empty: boolean;
}

function recordReach(reach: Map<string, Reach>, op: string, inputs: unknown, attrs: unknown): void {
  let r = reach.get(op);
  if (!r) {
    r = { calls: 0, maxElements: 0, maxShape: [], ranks: [], empty: false };
    reach.set(op, r);
  }
  r.calls++;
  if (typeof inputs !== "object" || inputs === null) return;
  // An initialiser has no input tensor: what it reaches is the shape it is asked for.
  const shape = (attrs as { shape?: unknown } | null)?.shape;
  const sized = Array.isArray(shape)
    ? [{ shape, data: { length: shape.reduce((p, d) => p * d, 1) } }]
    : [];
  for (const v of [...Object.values(inputs), ...sized]) {
    const t = v as { shape?: unknown; data?: { length?: unknown } } | null;
    if (!t || !Array.isArray(t.shape) || typeof t.data?.length !== "number") continue;
    const n = t.data.length;
    if (n > r.maxElements) {
      r.maxElements = n;
      r.maxShape = [...(t.shape as number[])];
    }
    if (!r.ranks.includes(t.shape.length)) r.ranks.push(t.shape.length);
    if (n === 0) r.empty = true;
  }
}

export function missingOps(law: Law, backend: Backend): OpName[] {
  return law.ops.filter((op) => typeof backend.kernels[op] !== "function");
}

/** Runs one law against one backend; never throws. */
export async function runLaw(law: Law, backend: Backend, options: RunOptions): Promise<LawResult> {
  const start = performance.now();
  const done = (status: LawStatus, extra: Partial<LawResult> = {}): LawResult => ({
    law,
    backend: backend.name,
    status,
    ms: performance.now() - start,
    ...extra,
  });
  if (law.appliesTo && !law.appliesTo(backend)) return done("not applicable");
  const missing = missingOps(law, backend);
  if (missing.length > 0) return done("not implemented", { missing });
  const ctx = new LawContext(law, backend, options);
  const budgetUse = () => ({
    ...(ctx.budgetUse.size > 0 ? { budgetUse: Object.fromEntries(ctx.budgetUse) } : {}),
    ...(ctx.reach.size > 0 ? { reach: Object.fromEntries(ctx.reach) } : {}),
  });
  try {
    await law.check(ctx);
    return done("passed", budgetUse());
  } catch (e) {
    return done("failed", {
      ...budgetUse(),
      message: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      failure: failureOf(e, options.seed ?? 20261122),
    });
  }
}

function failureOf(e: unknown, seed: number): Failure {
  const evidence = e instanceof LawViolation ? e.evidence : undefined;
  // A property wraps whatever its failing case threw: the cause says what went wrong.
  const cause = evidence?.cause ?? e;
  const kind: FailureKind =
    cause instanceof KernelContractError
      ? "contract"
      : cause instanceof LawViolation
        ? "violation"
        : "error";
  const detail =
    evidence && evidence.cause === undefined
      ? evidence.detail
      : cause instanceof LawViolation
        ? cause.message
        : cause instanceof Error
          ? `${cause.name}: ${cause.message}`
          : String(cause);
  const failure: Failure = { kind, detail, replay: { seed } };
  if (e instanceof LawViolation && e.mismatch) failure.mismatch = e.mismatch;
  if (evidence) {
    const { counterexample: value, shrinks, shrunk } = evidence;
    failure.counterexample = { value, shrinks, shrunk };
    failure.replay = { seed: evidence.seed, path: evidence.path };
  }
  return failure;
}

/** Options from the environment: TENSORLAWS_RUNS, TENSORLAWS_SEED, TENSORLAWS_PATH. */
export function envOptions(reference: Backend): RunOptions {
  const env = typeof process === "undefined" ? {} : process.env;
  return {
    reference,
    numRuns: env.TENSORLAWS_RUNS ? Number(env.TENSORLAWS_RUNS) : undefined,
    seed: env.TENSORLAWS_SEED ? Number(env.TENSORLAWS_SEED) : undefined,
    path: env.TENSORLAWS_PATH || undefined,
  };
}

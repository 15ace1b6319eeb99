/**
 * A law is data: an id, the sentence it proves, the note it encodes, the ops it needs and a
 * check that runs against any backend. The same law objects drive vitest and the CLI.
 */
import fc from "fast-check";
import { toleranceFields } from "./budgets.ts";
import { call } from "./call.ts";
import type { Attrs, Backend, Inputs, OpName, Output } from "./contract.ts";
import { type AnyTensor, cast, dtypeOf, type FloatDType, type Tensor, tensor } from "./tensor.ts";
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
  check(ctx: LawContext): Promise<void>;
}

/** A law's claim did not hold; the message carries everything needed to understand and replay. */
export class LawViolation extends Error {
  constructor(
    message: string,
    readonly mismatch?: Mismatch,
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
  constructor(
    readonly law: Law,
    readonly backend: Backend,
    readonly options: RunOptions,
  ) {
    this.dtype = backend.dtype;
    this.u = unitRoundoff(backend.dtype);
    this.numRuns = options.numRuns ?? 100;
    this.seed = options.seed ?? 20261122;
  }

  /** A tensor in the backend's dtype. */
  t(shape: readonly number[], values: ArrayLike<number> | number): Tensor {
    return tensor(this.dtype, shape, values);
  }

  /** Runs an op on the backend under test (validated, contract-checked). */
  call<O extends OpName>(op: O, inputs: Inputs<O>, attrs: Attrs<O>): Promise<Output<O>> {
    return call(this.backend, op, inputs, attrs, { timeoutMs: this.options.timeoutMs });
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
    for (const [key, { tol, rule }] of Object.entries(fields)) {
      const a = (single ? actual : (actual as Record<string, Tensor>)[key]) as Tensor;
      const e = (single ? expected : (expected as Record<string, Tensor>)[key]) as Tensor;
      const label = `${op}${single ? "" : `.${key}`} vs float64 reference`;
      const budgetNote = `${budget.ulps} ULP, factor ${budget.factor}${budget.overridden ? ` (overridden by ${this.backend.name})` : ""}`;
      const m = compare(label, a.data, e.data, tol, a.shape, this.dtype, `${rule} [${budgetNote}]`);
      if (m.failing > 0) this.fail(formatMismatch(m), m);
    }
    return actual;
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
    const example = fc.stringify(result.counterexample);
    const message = [
      err instanceof Error ? err.message : String(err),
      `counterexample (shrunk ${result.numShrinks} times): ${example.length > 600 ? `${example.slice(0, 600)}…` : example}`,
      `replay: TENSORLAWS_SEED=${result.seed} TENSORLAWS_PATH=${result.counterexamplePath} npx vitest run -t "${this.law.id} "`,
    ].join("\n");
    throw new LawViolation(message, violation?.mismatch);
  }

  /** A deterministic source of seeds for kernels that draw random numbers (dropout, init). */
  seedFor(i: number): number {
    return (this.seed * 7919 + i * 104729) % 2 ** 31;
  }
}

function roundOutputs<T>(out: T, dtype: FloatDType): T {
  if ("shape" in (out as object)) return cast(out as Tensor, dtype) as T;
  const rounded: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(out as Record<string, Tensor>)) rounded[k] = cast(v, dtype);
  return rounded as T;
}

export type LawStatus = "passed" | "failed" | "not implemented" | "not applicable";

export interface LawResult {
  law: Law;
  backend: string;
  status: LawStatus;
  message?: string;
  missing?: OpName[];
  ms: number;
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
  try {
    await law.check(new LawContext(law, backend, options));
    return done("passed");
  } catch (e) {
    return done("failed", { message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
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

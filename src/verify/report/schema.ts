/**
 * The JSON report of `tensorlaws verify --json FILE`: a stable schema for machines (CI
 * dashboards, bots). Every key is always present (null when it does not apply), numbers that
 * JSON cannot hold (NaN, ±∞) are written as the strings "NaN", "Infinity" and "-Infinity",
 * and `schemaVersion` changes whenever a key is renamed, removed or changes meaning (new keys
 * may appear without a change).
 *
 * The TypeScript types below are the schema; `reportSchema` is its runtime check, tied to the
 * types by the compiler (a key missing or mistyped on either side does not compile).
 */

export const SCHEMA_VERSION = 1;

/** A float that may be non-finite: JSON has no NaN or ±∞. */
export type JsonNumber = number | "NaN" | "Infinity" | "-Infinity";

export type Status = "passed" | "failed" | "not implemented" | "not applicable";

export interface Counts {
  passed: number;
  failed: number;
  notImplemented: number;
  notApplicable: number;
}

/** One op's accuracy budget on one backend, with the default it replaces. */
export interface BudgetReport {
  op: string;
  /** Rounding allowance in ULPs of the backend's dtype. */
  ulps: number;
  /** Multiplier of the length-dependent terms (sums, dot products). */
  factor: number;
  /** What the op's budget is without the backend's override. */
  default: { ulps: number; factor: number };
  /** The backend declares its own budget for this op (Backend.tolerances). */
  overridden: boolean;
}

/** The element of a result furthest outside its tolerance. */
export interface WorstReport {
  /** What was compared, e.g. "softmax vs float64 reference". */
  label: string;
  /** Elements outside tolerance, of `total`. */
  failing: number;
  total: number;
  coord: number[];
  actual: JsonNumber;
  expected: JsonNumber;
  /** |actual − expected|, the relative error and the ULP distance in the backend's dtype. */
  abs: JsonNumber;
  rel: JsonNumber;
  ulps: JsonNumber;
  /** The tolerance of this element, and the rule it came from. */
  tol: JsonNumber;
  rule: string | null;
}

/**
 * How close to failing an op came: over every call a law compared with the float64 reference
 * within the op's budget, the share of the budget the call's worst element used,
 * |actual − expected| / tolerance (0: exact; above 1: outside; "Infinity": a NaN or ±∞ missed).
 */
export interface BudgetUseReport {
  op: string;
  /** Calls measured (a failing law's shrinking calls included). */
  calls: number;
  /** The largest share of any call. */
  max: JsonNumber;
  /** Calls per share, in bins (previous upTo, upTo]: 0 (exact), quarter decades from 1e-4 to 1,
   * then "Infinity" (outside the budget). Only bins that hold a call are listed. */
  histogram: { upTo: JsonNumber; calls: number }[];
}

export interface FailureReport {
  /** "violation": the law's claim did not hold; "contract": a kernel threw, hung, returned the
   * wrong shape or dtype, or mutated an input; "error": anything else threw. */
  kind: "violation" | "contract" | "error";
  message: string;
  worst: WorstReport | null;
  /** The budget of every op the law calls, on this backend. */
  budgets: BudgetReport[];
  /** The shrunk failing case (fast-check's notation), when the law is a property. */
  counterexample: { value: string; shrinks: number; shrunk: boolean } | null;
  /** `command` replays exactly this failure. */
  replay: { seed: number; path: string | null; command: string };
}

export interface LawReport {
  id: string;
  topic: string;
  title: string;
  ops: string[];
  status: Status;
  durationMs: number;
  /** Ops the backend lacks (status "not implemented"). */
  missing: string[];
  /** The test, false-alarm rate and detection power of a statistical law. */
  statistical: { test: string; alpha: number; detects: string } | null;
  failure: FailureReport | null;
  /** Per op this law compared with the reference, the share of its budget used. */
  budgetUse: BudgetUseReport[];
}

export interface BackendReport {
  name: string;
  dtype: "float32" | "float64";
  /** Name, dtype and, for a GPU, the adapter. */
  description: string;
  /** Command-line arguments that select this backend again (a module path, --builtin cpu32…). */
  target: string[];
  rng: string | null;
  /** The per-op budgets the backend declares instead of the defaults. */
  tolerances: BudgetReport[];
  /** Kernel names that are no op of the contract (a typo leaves the op "not implemented"). */
  unknownKernels: string[];
  durationMs: number;
  counts: Counts;
  results: LawReport[];
  /** Per op, the share of its budget used over every law on this backend. */
  budgetUse: BudgetUseReport[];
}

export interface Report {
  schemaVersion: typeof SCHEMA_VERSION;
  tool: { name: "tensorlaws"; version: string };
  /** ISO 8601. */
  startedAt: string;
  durationMs: number;
  settings: {
    seed: number;
    numRuns: number;
    path: string | null;
    timeoutMs: number;
    /** The filters the run was given (null: no filter). */
    laws: string[] | null;
    ops: string[] | null;
    topics: string[] | null;
  };
  /** Warnings about the run itself (e.g. no WebGPU adapter, a backend where nothing ran). */
  notes: string[];
  /** True when no law failed and, on every backend, a law that calls one of its kernels passed. */
  ok: boolean;
  totals: Counts;
  backends: BackendReport[];
}

// ---- the runtime check ----

/** A checker of values of type T; invariant in T, so `Schema<Report>` must match exactly. */
export interface Schema<T> {
  check(value: unknown, at: string, problems: string[]): void;
  readonly type?: (t: T) => T;
}

const schema = <T>(check: Schema<T>["check"]): Schema<T> => ({ check });

const primitive = <T>(name: "number" | "string" | "boolean"): Schema<T> =>
  schema((v, at, p) => {
    if (typeof v !== name || (name === "number" && !Number.isFinite(v))) {
      p.push(`${at}: expected a finite ${name}, got ${JSON.stringify(v)}`);
    }
  });

const number = primitive<number>("number");
const string = primitive<string>("string");
const boolean = primitive<boolean>("boolean");

function literal<const T extends string | number>(...values: T[]): Schema<T> {
  return schema((v, at, p) => {
    if (!values.includes(v as T)) {
      p.push(
        `${at}: expected ${values.map((x) => JSON.stringify(x)).join(" | ")}, got ${JSON.stringify(v)}`,
      );
    }
  });
}

function nullable<T>(s: Schema<T>): Schema<T | null> {
  return schema((v, at, p) => {
    if (v !== null) s.check(v, at, p);
  });
}

function either<A, B>(a: Schema<A>, b: Schema<B>): Schema<A | B> {
  return schema((v, at, p) => {
    const pa: string[] = [];
    a.check(v, at, pa);
    if (pa.length === 0) return;
    const pb: string[] = [];
    b.check(v, at, pb);
    if (pb.length > 0) p.push(...pa, ...pb);
  });
}

function array<T>(s: Schema<T>): Schema<T[]> {
  return schema((v, at, p) => {
    if (!Array.isArray(v)) p.push(`${at}: expected an array`);
    else for (const [i, x] of v.entries()) s.check(x, `${at}[${i}]`, p);
  });
}

/** An object with exactly these keys: a missing or an extra key is a problem. */
function object<T>(props: { [K in keyof T]-?: Schema<T[K]> }): Schema<T> {
  return schema((v, at, p) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      p.push(`${at}: expected an object`);
      return;
    }
    const record = v as Record<string, unknown>;
    for (const [key, s] of Object.entries(props) as [string, Schema<unknown>][]) {
      if (!(key in record)) p.push(`${at}.${key}: missing`);
      else s.check(record[key], `${at}.${key}`, p);
    }
    for (const key of Object.keys(record)) {
      if (!(key in props)) p.push(`${at}.${key}: not in the schema`);
    }
  });
}

const finiteOrNot: Schema<JsonNumber> = either(number, literal("NaN", "Infinity", "-Infinity"));

const counts = object<Counts>({
  passed: number,
  failed: number,
  notImplemented: number,
  notApplicable: number,
});

const budget = object<BudgetReport>({
  op: string,
  ulps: number,
  factor: number,
  default: object<BudgetReport["default"]>({ ulps: number, factor: number }),
  overridden: boolean,
});

const worst = object<WorstReport>({
  label: string,
  failing: number,
  total: number,
  coord: array(number),
  actual: finiteOrNot,
  expected: finiteOrNot,
  abs: finiteOrNot,
  rel: finiteOrNot,
  ulps: finiteOrNot,
  tol: finiteOrNot,
  rule: nullable(string),
});

const failure = object<FailureReport>({
  kind: literal("violation", "contract", "error"),
  message: string,
  worst: nullable(worst),
  budgets: array(budget),
  counterexample: nullable(
    object<NonNullable<FailureReport["counterexample"]>>({
      value: string,
      shrinks: number,
      shrunk: boolean,
    }),
  ),
  replay: object<FailureReport["replay"]>({
    seed: number,
    path: nullable(string),
    command: string,
  }),
});

const budgetUse = object<BudgetUseReport>({
  op: string,
  calls: number,
  max: finiteOrNot,
  histogram: array(
    object<BudgetUseReport["histogram"][number]>({ upTo: finiteOrNot, calls: number }),
  ),
});

const law = object<LawReport>({
  id: string,
  topic: string,
  title: string,
  ops: array(string),
  status: literal("passed", "failed", "not implemented", "not applicable"),
  durationMs: number,
  missing: array(string),
  statistical: nullable(
    object<NonNullable<LawReport["statistical"]>>({
      test: string,
      alpha: number,
      detects: string,
    }),
  ),
  failure: nullable(failure),
  budgetUse: array(budgetUse),
});

const backend = object<BackendReport>({
  name: string,
  dtype: literal("float32", "float64"),
  description: string,
  target: array(string),
  rng: nullable(string),
  tolerances: array(budget),
  unknownKernels: array(string),
  durationMs: number,
  counts,
  results: array(law),
  budgetUse: array(budgetUse),
});

export const reportSchema: Schema<Report> = object<Report>({
  schemaVersion: literal(SCHEMA_VERSION),
  tool: object<Report["tool"]>({ name: literal("tensorlaws"), version: string }),
  startedAt: string,
  durationMs: number,
  settings: object<Report["settings"]>({
    seed: number,
    numRuns: number,
    path: nullable(string),
    timeoutMs: number,
    laws: nullable(array(string)),
    ops: nullable(array(string)),
    topics: nullable(array(string)),
  }),
  notes: array(string),
  ok: boolean,
  totals: counts,
  backends: array(backend),
});

/** The ways `value` departs from the schema (JSON paths), or [] when it is a valid report. */
export function reportProblems(value: unknown): string[] {
  const problems: string[] = [];
  reportSchema.check(value, "$", problems);
  return problems;
}

/** Non-finite numbers as the strings the schema uses. */
export function jsonNumber(x: number): JsonNumber {
  if (Number.isNaN(x)) return "NaN";
  if (x === Number.POSITIVE_INFINITY) return "Infinity";
  if (x === Number.NEGATIVE_INFINITY) return "-Infinity";
  return x;
}

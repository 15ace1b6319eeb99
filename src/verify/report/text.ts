/** Wording shared by the terminal, Markdown and JUnit reports, so that they say the same thing. */
import type { BackendReport, BudgetReport, FailureReport, JsonNumber, Report } from "./schema.ts";

/** Control characters (C0 except those in `keep`, DEL, C1) as U+FFFD: a backend's name or
 * message must not move the terminal's cursor or inject markup. */
export function neutralise(s: string, keep = ""): string {
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += (c < 0x20 || (c >= 0x7f && c < 0xa0)) && !keep.includes(ch) ? "\uFFFD" : ch;
  }
  return out;
}

/** A reported number: 9 significant digits, non-finite values by name. */
export function num(x: JsonNumber): string {
  if (typeof x === "string") return x === "Infinity" ? "∞" : x === "-Infinity" ? "−∞" : x;
  return Number.isInteger(x) ? String(x) : x.toPrecision(9);
}

/** "8 ULP, factor 2", with the default it replaces when the backend overrides it. */
export function budgetText(b: BudgetReport, backend: string): string {
  const own = `${b.ulps} ULP, factor ${b.factor}`;
  if (!b.overridden) return `${b.op} ${own}`;
  return `${b.op} ${own} (override by ${backend}; default ${b.default.ulps} ULP, factor ${b.default.factor})`;
}

/** The tolerance overrides a backend declares, or undefined when it has none. */
export function overridesText(b: BackendReport): string | undefined {
  if (b.tolerances.length === 0) return undefined;
  return b.tolerances
    .map(
      (t) =>
        `${t.op} ${t.ulps} ULP, factor ${t.factor} (default ${t.default.ulps} ULP, factor ${t.default.factor})`,
    )
    .join("; ");
}

const kindText: Record<FailureReport["kind"], string> = {
  violation: "the law does not hold",
  contract: "a kernel broke the contract",
  error: "an error was thrown",
};

/** Every line a reader needs to understand a failure and replay it. */
export function failureLines(f: FailureReport, backend: string): string[] {
  const lines = [`${kindText[f.kind]}:`, ...f.message.split("\n").map((l) => `  ${l}`)];
  if (f.worst && !f.message.includes("worst at")) {
    const w = f.worst;
    lines.push(
      `worst at [${w.coord.join(", ")}]: actual ${num(w.actual)}, expected ${num(w.expected)}; |diff| ${num(w.abs)} > tol ${num(w.tol)}; relative ${num(w.rel)}; ${num(w.ulps)} ULP`,
    );
  }
  if (f.budgets.length > 0) {
    lines.push(`budget: ${f.budgets.map((b) => budgetText(b, backend)).join("; ")}`);
  }
  if (f.counterexample) {
    const c = f.counterexample;
    const how = c.shrunk ? `shrunk ${c.shrinks} times` : "not shrunk: a kernel call timed out";
    lines.push(`counterexample (${how}): ${c.value}`);
  }
  lines.push(`replay: ${f.replay.command}`);
  return lines;
}

export function countsText(c: BackendReport["counts"]): string {
  return `${c.passed} passed, ${c.failed} failed, ${c.notImplemented} not implemented, ${c.notApplicable} not applicable`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The ops a backend lacks, most-needed first: implementing them unlocks that many laws. */
export function missingOps(b: BackendReport): [op: string, laws: number][] {
  const count = new Map<string, number>();
  for (const r of b.results) for (const op of r.missing) count.set(op, (count.get(op) ?? 0) + 1);
  return [...count].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
}

/** One sentence on the outcome. */
export function verdict(report: Report): string {
  const t = report.totals;
  if (t.failed > 0) return `FAILED: ${t.failed} law ${t.failed === 1 ? "run" : "runs"} failed`;
  if (!report.ok) return "FAILED: nothing was verified on a backend (see the notes)";
  return `OK: all ${t.passed} law runs that apply passed`;
}

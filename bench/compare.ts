/**
 * A fresh run against the stored baseline of the same machine key: one verdict per case (and per
 * law workload), from the retained samples (see stats.ts for the rule).
 */
import { kernelMs, ms, table } from "./report.ts";
import { type BenchResults, caseId } from "./results.ts";
import { median, P_MAX, SLOWDOWN, type Verdict, verdict } from "./stats.ts";

export interface Comparison {
  id: string;
  /** Absent from one side: the case is new, or the baseline's case did not run. */
  status: Verdict["status"] | "new" | "missing";
  verdict?: Verdict;
  baselineMedian?: number;
  currentMedian?: number;
}

/** Every timed series of a results file by id: the cases' end-to-end samples, GPU kernel
 * samples as `<id> [kernel]`, and the law workloads. */
function series(r: BenchResults): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const c of r.cases) {
    out.set(caseId(c), c.samples);
    // Kernel times too coarse to resolve (quantized timestamps) are left out.
    if (c.gpu && kernelMs(c) !== undefined) out.set(`${caseId(c)} [kernel]`, c.gpu.samples);
  }
  for (const l of r.laws) out.set(`${l.backend} ${l.name} [ms per case]`, l.samples);
  return out;
}

export function compareResults(baseline: BenchResults, current: BenchResults): Comparison[] {
  const base = series(baseline);
  const now = series(current);
  const out: Comparison[] = [];
  for (const [id, samples] of now) {
    const before = base.get(id);
    if (!before) {
      out.push({ id, status: "new" });
      continue;
    }
    const v = verdict(before, samples);
    out.push({
      id,
      status: v.status,
      verdict: v,
      baselineMedian: median(before),
      currentMedian: median(samples),
    });
  }
  for (const id of base.keys()) if (!now.has(id)) out.push({ id, status: "missing" });
  return out;
}

/**
 * A warning when a quarter or more of the compared series moved the same way by more than the
 * threshold: one kernel does not do that; the machine did (other processes, clocks, thermals).
 * The t-test sees only the spread within each run, so it cannot tell the two apart.
 */
export function machineDrift(rows: readonly Comparison[]): string | undefined {
  const ratios = rows.flatMap((r) => (r.verdict ? [r.verdict.medianRatio] : []));
  if (ratios.length < 8) return undefined;
  const slower = ratios.filter((x) => x > SLOWDOWN).length / ratios.length;
  const faster = ratios.filter((x) => x < 1 / SLOWDOWN).length / ratios.length;
  const share = Math.max(slower, faster);
  if (share < 0.25) return undefined;
  const way = slower >= faster ? "slower" : "faster";
  return `warning: ${(100 * share).toFixed(0)} % of the series are over ${((SLOWDOWN - 1) * 100).toFixed(0)} % ${way}: the machine's speed changed (load from other processes?); re-run on a quiet machine before trusting the verdicts`;
}

/** The regressions and improvements as a table, then counts of the rest. */
export function comparisonReport(rows: readonly Comparison[]): string {
  const changed = rows.filter((r) => r.status === "regression" || r.status === "improvement");
  changed.sort((a, b) => (b.verdict?.medianRatio ?? 0) - (a.verdict?.medianRatio ?? 0));
  const count = (s: Comparison["status"]) => rows.filter((r) => r.status === s).length;
  const lines = [
    `rule: regression when > ${((SLOWDOWN - 1) * 100).toFixed(0)} % slower by median and by mean, with Welch one-sided p < ${P_MAX}`,
    `${count("regression")} regressions, ${count("improvement")} improvements, ${count("unchanged")} unchanged, ${count("new")} new, ${count("missing")} missing`,
  ];
  const drift = machineDrift(rows);
  if (drift) lines.push(drift);
  if (changed.length > 0) {
    lines.push(
      "",
      table(
        ["", "case", "baseline ms", "now ms", "median ×", "mean ×", "t", "df", "p"],
        changed.map((r) => {
          const v = r.verdict!;
          return [
            r.status === "regression" ? "SLOWER" : "faster",
            `\`${r.id}\``,
            ms(r.baselineMedian),
            ms(r.currentMedian),
            v.medianRatio.toFixed(3),
            v.meanRatio.toFixed(3),
            v.welch.t.toFixed(2),
            v.welch.df.toFixed(1),
            (r.status === "regression" ? v.welch.pGreater : v.welch.pLess).toExponential(1),
          ];
        }),
      ),
    );
  }
  const missing = rows.filter((r) => r.status === "missing").map((r) => `  ${r.id}`);
  if (missing.length > 0) {
    // A filtered run misses most of the baseline: name a few, count the rest.
    const more = missing.length > 12 ? [`  … and ${missing.length - 10} more`] : [];
    lines.push(
      "",
      "in the baseline but not measured now:",
      ...missing.slice(0, more.length ? 10 : 12),
      ...more,
    );
  }
  return lines.join("\n");
}

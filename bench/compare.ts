/**
 * A fresh run against the stored baseline of the same machine key: one verdict per case (and per
 * law workload), from the retained samples (see stats.ts for the rule).
 */
import { kernelMs, ms, table } from "./report.ts";
import { type BenchResults, caseId, RETAINED, retain } from "./results.ts";
import { median, P_MAX, runSpread, SLOWDOWN, type Verdict, verdict } from "./stats.ts";

export interface Comparison {
  id: string;
  /** TensorFlow.js's series: its code does not change with ours, so they measure the machine. */
  control: boolean;
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

const isControl = (id: string) => id.startsWith("tfjs-");

/**
 * How much faster or slower the machine runs now than when the baseline was recorded, read from
 * the control series (TensorFlow.js, whose code our changes never touch): the median of their
 * median ratios, 1 when fewer than 8 were measured. Same-code runs on a shared 2-core machine
 * move together by 10 % and more between processes; our own series cannot measure that, since a
 * change to the shared runtime would slow them all.
 */
export function machineSpeed(baseline: BenchResults, current: BenchResults): number {
  const base = series(baseline);
  const ratios: number[] = [];
  for (const [id, samples] of series(current)) {
    const before = base.get(id);
    if (isControl(id) && before) ratios.push(median(samples) / median(before));
  }
  return ratios.length >= 8 ? median(ratios) : 1;
}

/** Every series against the baseline; ours with the machine's change of speed divided out. */
export function compareResults(baseline: BenchResults, current: BenchResults): Comparison[] {
  const base = series(baseline);
  const now = series(current);
  const speed = machineSpeed(baseline, current);
  const out: Comparison[] = [];
  for (const [id, samples] of now) {
    const control = isControl(id);
    const before = base.get(id);
    if (!before) {
      out.push({ id, control, status: "new" });
      continue;
    }
    const adjusted = control ? samples : samples.map((t) => t / speed);
    const v = verdict(before, adjusted, baseline.runSd ?? 0, baseline.runs ?? 1);
    out.push({
      id,
      control,
      status: v.status,
      verdict: v,
      baselineMedian: median(before),
      currentMedian: median(adjusted),
    });
  }
  for (const id of base.keys())
    if (!now.has(id)) out.push({ id, control: isControl(id), status: "missing" });
  return out;
}

/** The between-run spread of same-code runs of ours: what `--calibrate` stores in a baseline. */
export function calibrate(baseline: BenchResults, sameCode: BenchResults): number {
  const base = series(baseline);
  const ratios: number[] = [];
  for (const [id, samples] of series(sameCode)) {
    const before = base.get(id);
    if (!isControl(id) && before) ratios.push(median(samples) / median(before));
  }
  return runSpread(ratios);
}

/**
 * The baseline with a second same-code run's samples pooled in: its level is then the average
 * of two runs' (half the run effect's variance), which a single lucky or unlucky run would
 * otherwise fix for every later check.
 */
export function pool(baseline: BenchResults, sameCode: BenchResults): BenchResults {
  const other = new Map(sameCode.cases.map((c) => [caseId(c), c]));
  const laws = new Map(sameCode.laws.map((l) => [`${l.backend} ${l.name}`, l]));
  const runs = (baseline.runs ?? 1) + 1;
  const keep = (a: number[], b: number[] | undefined) =>
    b ? retain([...a, ...b], runs * RETAINED) : a;
  return {
    ...baseline,
    runs,
    cases: baseline.cases.map((c) => {
      const o = other.get(caseId(c));
      return {
        ...c,
        samples: keep(c.samples, o?.samples),
        gpu: c.gpu && { ...c.gpu, samples: keep(c.gpu.samples, o?.gpu?.samples) },
      };
    }),
    laws: baseline.laws.map((l) => ({
      ...l,
      samples: keep(l.samples, laws.get(`${l.backend} ${l.name}`)?.samples),
    })),
  };
}

/** A regression of ours: what fails the check (the controls' verdicts are only reported). */
export const regressed = (rows: readonly Comparison[]) =>
  rows.filter((r) => r.status === "regression" && !r.control);

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
export function comparisonReport(rows: readonly Comparison[], speed = 1, runSd = 0): string {
  const changed = rows.filter((r) => r.status === "regression" || r.status === "improvement");
  changed.sort((a, b) => (b.verdict?.medianRatio ?? 0) - (a.verdict?.medianRatio ?? 0));
  const count = (s: Comparison["status"]) => rows.filter((r) => r.status === s).length;
  const lines = [
    `rule: regression when > ${((SLOWDOWN - 1) * 100).toFixed(0)} % slower by median and by mean, with Welch one-sided p < ${P_MAX}${runSd ? `, the between-run spread ${(100 * runSd).toFixed(1)} % of this machine included` : ""}`,
    rows.some((r) => r.control)
      ? `machine speed from the TensorFlow.js control series: now ${speed.toFixed(3)}× the baseline's times (divided out of ours)`
      : "no TensorFlow.js control series: nothing divided out of ours",
    `${regressed(rows).length} regressions of ours (${rows.filter((r) => r.control && r.status === "regression").length} more among the controls), ${count("improvement")} improvements, ${count("unchanged")} unchanged, ${count("new")} new, ${count("missing")} missing`,
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
            `${r.status === "regression" ? "SLOWER" : "faster"}${r.control ? " (control)" : ""}`,
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

/**
 * The tables a bench run prints (Markdown, so they paste into a README): ours / theirs per case,
 * the physical floor of each GPU case, matmul around the tile sizes, the law-suite workload.
 */
import type { BenchResults, CaseResult } from "./results.ts";

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Milliseconds with three significant digits. */
export const ms = (v: number | undefined) =>
  v === undefined ? "" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(3);
const ratio = (v: number | undefined) => (v === undefined ? "" : v.toFixed(2));
const pct = (v: number) => `${(100 * v).toFixed(v < 0.1 ? 1 : 0)} %`;

/** Quantized kernel times are used from this many quanta up (each pass is off by under one). */
const QUANTA = 20;

/** The kernel time of a case when timestamps resolve it, else undefined. */
export function kernelMs(c: CaseResult): number | undefined {
  if (!c.gpu || c.gpu.median <= 0) return undefined;
  if (c.gpu.quantumMs && c.gpu.median < QUANTA * c.gpu.quantumMs) return undefined;
  return c.gpu.median;
}

function byBackend(results: BenchResults): Map<string, Map<string, CaseResult>> {
  const out = new Map<string, Map<string, CaseResult>>();
  for (const c of results.cases) {
    if (!out.has(c.backend)) out.set(c.backend, new Map());
    out.get(c.backend)!.set(c.name, c);
  }
  return out;
}

/** Whether the adapter is a software rasteriser (its times measure relative work only). */
export function isSoftware(results: BenchResults): boolean {
  const a = results.adapter;
  return !!a && /swiftshader|llvmpipe|lavapipe|warp|software/i.test(Object.values(a).join(" "));
}

export function describeMachine(r: BenchResults): string {
  const m = r.machine;
  const gpu = r.adapter
    ? [r.adapter.vendor, r.adapter.architecture, r.adapter.device, r.adapter.description]
        .filter((s) => s)
        .join(" / ")
    : "no WebGPU adapter";
  return `${gpu}; ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB); Node ${m.node}`;
}

/**
 * Ours / theirs per case: the ratio of median end-to-end times (below 1: ours is faster), and
 * for the GPU the ratio of kernel times where both sides have timestamps.
 */
export function ratioTable(results: BenchResults): string | undefined {
  const b = byBackend(results);
  const get = (backend: string, name: string) => b.get(backend)?.get(name);
  const time = (backend: string) => ({
    header: `${backend} ms`,
    cell: (name: string) => ms(get(backend, name)?.median),
  });
  const versus = (ours: string, theirs: string, kernel = false) => ({
    header: kernel ? `${ours} / ${theirs} kernel` : `${ours} / ${theirs}`,
    ratio: true,
    cell: (name: string) => {
      const o = get(ours, name);
      const t = get(theirs, name);
      if (!kernel) return ratio(o && t && o.median / t.median);
      const [ko, kt] = [o && kernelMs(o), t && kernelMs(t)];
      return ratio(ko && kt && ko / kt);
    },
  });
  const columns: { header: string; ratio?: boolean; cell: (name: string) => string }[] = [];
  if (b.has("tfjs-cpu")) {
    columns.push(time("tfjs-cpu"));
    for (const ours of ["cpu32", "cpu"].filter((o) => b.has(o))) {
      columns.push(time(ours), versus(ours, "tfjs-cpu"));
    }
  }
  if (b.has("tfjs-webgpu") && b.has("webgpu")) {
    columns.push(time("tfjs-webgpu"), time("webgpu"), versus("webgpu", "tfjs-webgpu"));
    columns.push(versus("webgpu", "tfjs-webgpu", true));
  }
  if (!columns.some((c) => c.ratio)) return undefined;
  const names = [...new Set(results.cases.map((c) => c.name))];
  const rows = names
    .filter((name) => columns.some((c) => c.ratio && c.cell(name) !== ""))
    .map((name) => [`\`${name}\``, ...columns.map((c) => c.cell(name))]);
  return table(["case", ...columns.map((c) => c.header)], rows);
}

/**
 * The physical floor of each GPU case: bytes moved and FLOPs, achieved GB/s and GFLOP/s from the
 * kernel time (timestamp queries; end-to-end when there are none), as a share of the measured
 * copy bandwidth and of the peak FLOP/s when known.
 */
export function floorTable(results: BenchResults, backend = "webgpu"): string | undefined {
  const cases = results.cases.filter((c) => c.backend === backend);
  if (cases.length === 0) return undefined;
  const header = ["case", "MB", "MFLOP", "e2e ms", "kernel ms", "GB/s", "of copy", "GFLOP/s"];
  if (results.peakGflops) header.push("of peak");
  const rows = cases.map((c) => {
    const k = kernelMs(c);
    // Timed kernels that timestamps cannot resolve get no rates: the end-to-end time would
    // understate them by the round trip. Untimed ones (no timestamp-query) use end-to-end time.
    const t = c.gpu ? k : c.median;
    const unresolved = c.gpu?.quantumMs ? `< ${ms(QUANTA * c.gpu.quantumMs)} (quantized)` : "";
    const rate = (amount: number, of?: number) =>
      t === undefined
        ? ["", ""]
        : [(amount / (t * 1e6)).toFixed(1), of ? pct(amount / (t * 1e6) / of) : ""];
    const row = [
      `\`${c.name}\``,
      (c.bytes / 1e6).toFixed(1),
      (c.flops / 1e6).toFixed(1),
      ms(c.median),
      k !== undefined ? ms(k) : unresolved,
      ...rate(c.bytes, results.copyGBps),
      ...rate(c.flops, results.peakGflops),
    ];
    return results.peakGflops ? row : row.slice(0, -1);
  });
  return table(header, rows);
}

/**
 * Square matmul around the tile sizes: GFLOP/s per backend from kernel time (end-to-end time
 * would mostly measure the round trip at these sizes); "–" where timestamps cannot resolve it.
 */
export function tileTable(results: BenchResults): string | undefined {
  const square = /^matmul\(\[(\d+), \1\] × \[\1, \1\]\)$/;
  const sizes = [
    ...new Set(
      results.cases.flatMap((c) => {
        const m = square.exec(c.name);
        return m ? [Number(m[1])] : [];
      }),
    ),
  ].sort((a, b) => a - b);
  const backends = ["webgpu", "tfjs-webgpu"].filter((b) =>
    results.cases.some((c) => c.backend === b && c.gpu && square.test(c.name)),
  );
  if (sizes.length === 0 || backends.length === 0) return undefined;
  const b = byBackend(results);
  const rows = sizes.map((d) => [
    String(d),
    ...backends.map((name) => {
      const c = b.get(name)?.get(`matmul([${d}, ${d}] × [${d}, ${d}])`);
      const k = c && kernelMs(c);
      return c && k ? (c.flops / (k * 1e6)).toFixed(1) : c ? "–" : "";
    }),
  ]);
  return table(["d (d×d × d×d)", ...backends.map((n) => `${n} kernel GFLOP/s`)], rows);
}

/**
 * The performance targets, per case: our webgpu ≥ 1.5× TensorFlow.js-webgpu (2× for the
 * fused cross-entropy step) by median end-to-end time and by kernel time; on a real GPU, matmul
 * ≥ 30 % of the FP32 peak and the memory-bound kernels ≥ 60 % of the measured copy bandwidth.
 */
export function targetTable(results: BenchResults): string | undefined {
  const b = byBackend(results);
  const ours = b.get("webgpu");
  if (!ours) return undefined;
  const theirs = b.get("tfjs-webgpu");
  const real = !isSoftware(results);
  // Nothing to compare with: no TensorFlow.js, and no floor worth a verdict.
  if (!theirs && !real) return undefined;
  const family = (op: string) =>
    /^(matmul|softmax|batch_norm|layer_norm|cross_entropy)/.exec(op)?.[1];
  const verdictOf = (got: number | undefined, want: number) =>
    got === undefined ? "" : got >= want ? "met" : `missed by ${pct(1 - got / want)}`;
  const rows: string[][] = [];
  for (const c of ours.values()) {
    const f = family(c.op);
    if (!f || c.op === "cross_entropy" || c.op === "cross_entropy_vjp") continue;
    const t = theirs?.get(c.name);
    const speedWant = c.op === "cross_entropy_fused" ? 2 : f === "cross_entropy" ? undefined : 1.5;
    const speed = t && t.median / c.median;
    const [ko, kt] = [kernelMs(c), t && kernelMs(t)];
    const kernelSpeed = ko && kt && kt / ko;
    // The floor from kernel time only: end-to-end time includes the round trip through the host.
    const time = kernelMs(c);
    let floor = "";
    let floorVerdict = "";
    if (time === undefined) {
      // No resolved kernel time: no floor claim.
    } else if (real && f === "matmul" && results.peakGflops) {
      const share = c.flops / (time * 1e6) / results.peakGflops;
      floor = `${pct(share)} of peak FLOP/s`;
      floorVerdict = verdictOf(share, 0.3);
    } else if (real && f !== "matmul" && f !== "batch_norm" && results.copyGBps) {
      const share = c.bytes / (time * 1e6) / results.copyGBps;
      floor = `${pct(share)} of copy`;
      floorVerdict = verdictOf(share, 0.6);
    }
    if (speedWant === undefined && floor === "") continue;
    rows.push([
      `\`${c.name}\``,
      ratio(speed),
      ratio(kernelSpeed),
      speedWant ? `≥ ${speedWant}×` : "",
      speedWant ? verdictOf(kernelSpeed ?? speed, speedWant) : "",
      floor,
      floorVerdict,
    ]);
  }
  if (rows.length === 0) return undefined;
  return table(
    ["case", "speedup e2e", "speedup kernel", "target", "", "floor (kernel time)", ""],
    rows,
  );
}

export function lawTable(results: BenchResults): string | undefined {
  if (results.laws.length === 0) return undefined;
  return table(
    ["workload", "backend", "laws", "cases", "kernel calls", "cases / s"],
    results.laws.map((l) => [
      l.name,
      l.backend,
      String(l.laws),
      String(l.cases),
      String(Math.round(l.kernelCalls)),
      l.casesPerSecond.toFixed(1),
    ]),
  );
}

/** Everything, for the console after a run. */
export function fullReport(results: BenchResults): string {
  const parts = [`machine: ${describeMachine(results)}`, `key: ${results.key}`];
  if (results.copyGBps) parts.push(`device copy bandwidth: ${results.copyGBps.toFixed(2)} GB/s`);
  if (results.peakGflops) {
    parts.push(`FP32 peak: ${results.peakGflops} GFLOP/s (${results.peakSource ?? "given"})`);
  }
  if (isSoftware(results)) {
    parts.push("software adapter: GPU times measure relative work only, not a GPU's floor");
  }
  for (const s of results.skipped) parts.push(`skipped ${s.backend}: ${s.reason}`);
  const sections: [string, string | undefined][] = [
    ["ours / theirs (median end-to-end time; below 1 is ours faster)", ratioTable(results)],
    ["physical floor, webgpu", floorTable(results, "webgpu")],
    ["physical floor, tfjs-webgpu", floorTable(results, "tfjs-webgpu")],
    ["matmul around the tile sizes", tileTable(results)],
    [
      "targets: speedup = tfjs-webgpu / webgpu time (verdict on kernel time where timed)",
      targetTable(results),
    ],
    ["the law suite as a workload", lawTable(results)],
  ];
  for (const [title, body] of sections) if (body) parts.push(`\n## ${title}\n\n${body}`);
  return parts.join("\n");
}

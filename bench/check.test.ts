/**
 * The regression checker's statistics, against values computed independently (closed forms,
 * identities, R's output), and its verdicts on synthetic timings whose truth is known: a
 * deliberately slowed kernel is flagged, the same kernel is not. Nothing here is timed except
 * the last test, which only asserts that a kernel made 3× slower is caught.
 */
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import type { Backend } from "../src/engine/contract.ts";
import { cpu32 } from "../src/engine/cpu/index.ts";
import { InvalidArgumentError } from "../src/engine/errors.ts";
import { normalCdf } from "../src/harness/stats.ts";
import { addWorktree, pairedRun, repoRoot, resolveRef } from "./against.ts";
import { benchCases, generator } from "./cases.ts";
import { compareResults, machineDrift } from "./compare.ts";
import { kernelMs, targetTable } from "./report.ts";
import {
  type BenchResults,
  type CaseResult,
  readResults,
  resultsPath,
  retain,
  writeResults,
} from "./results.ts";
import {
  logGamma,
  median,
  regularizedBeta,
  runSpread,
  SLOWDOWN,
  studentTCdf,
  trimSlow,
  verdict,
  welch,
} from "./stats.ts";
import { datasheetPeak, measure } from "./suite.ts";

describe("Student's t and the incomplete beta function", () => {
  test("the t CDF matches the closed forms for 1, 2, 3 and 4 degrees of freedom", () => {
    const closed: Record<number, (t: number) => number> = {
      1: (t) => 0.5 + Math.atan(t) / Math.PI,
      2: (t) => 0.5 + t / (2 * Math.sqrt(2 + t * t)),
      3: (t) =>
        0.5 + (t / (Math.sqrt(3) * (1 + (t * t) / 3)) + Math.atan(t / Math.sqrt(3))) / Math.PI,
      4: (t) => {
        const s = (t * t) / (4 + t * t);
        return 0.5 + ((3 / 8) * t * (1 - s / 3)) / Math.sqrt(1 + (t * t) / 4);
      },
    };
    for (const [df, f] of Object.entries(closed)) {
      for (const t of [-12, -3, -1.5, -0.2, 0, 0.7, 2, 5, 40]) {
        expect(studentTCdf(t, Number(df))).toBeCloseTo(f(t), 13);
      }
    }
  });

  test("with many degrees of freedom the t CDF becomes the normal CDF", () => {
    for (const t of [-4, -1, 0.5, 2.5]) {
      expect(studentTCdf(t, 1e8)).toBeCloseTo(normalCdf(t), 7);
    }
  });

  test("I_x(a, b) for integer a, b equals the binomial tail it counts", () => {
    const binomialTail = (x: number, a: number, b: number) => {
      const n = a + b - 1;
      let sum = 0;
      let choose = 1;
      for (let j = 0; j <= n; j++) {
        if (j >= a) sum += choose * x ** j * (1 - x) ** (n - j);
        choose = (choose * (n - j)) / (j + 1);
      }
      return sum;
    };
    for (const [a, b] of [
      [1, 1],
      [2, 3],
      [7, 2],
      [15, 30],
    ]) {
      for (const x of [0.01, 0.2, 0.5, 0.9, 0.999]) {
        const want = binomialTail(x, a, b);
        expect(Math.abs(regularizedBeta(x, a, b) - want)).toBeLessThan(1e-13 * Math.max(1, want));
      }
    }
  });

  test("ln Γ matches factorials and Γ(½) = √π", () => {
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 13);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(logGamma(171)).toBeCloseTo(706.5730622457874, 9);
  });

  test("bad arguments are typed errors naming the function and the argument", () => {
    expect(() => studentTCdf(1, 0)).toThrow(InvalidArgumentError);
    expect(() => studentTCdf(1, 0)).toThrow(/studentTCdf: invalid argument 'df'/);
    expect(() => regularizedBeta(1.5, 1, 1)).toThrow(/regularizedBeta: invalid argument 'x'/);
    expect(() => welch([1], [1, 2])).toThrow(/welch: invalid argument 'a'/);
    expect(() => median([])).toThrow(/median: invalid argument 'xs'/);
  });
});

describe("Welch's t-test", () => {
  // R: t.test(extra ~ group, data = sleep) → t = -1.8608, df = 17.776, p-value = 0.07939.
  const group1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
  const group2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

  test("reproduces R's Welch test on the sleep data (t, Welch–Satterthwaite df, p)", () => {
    const w = welch(group2, group1);
    expect(w.t).toBeCloseTo(-1.8608, 4);
    expect(w.df).toBeCloseTo(17.776, 3);
    expect(w.pTwoSided).toBeCloseTo(0.07939, 5);
    expect(w.pLess).toBeCloseTo(0.07939 / 2, 5);
    expect(w.pGreater + w.pLess).toBeCloseTo(1, 14);
  });

  test("two constant samples give a certain verdict instead of NaN", () => {
    expect(welch([2, 2, 2], [3, 3]).pGreater).toBe(0);
    expect(welch([2, 2, 2], [2, 2]).pTwoSided).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Synthetic timings: log-normal noise around a true time, optionally with slow outliers (calls
// that another process delayed by 1.5–2.5×). Seeded, so every rate below is reproducible.

const rng = generator;

function timings(seed: number) {
  const r = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(r() || 2 ** -32)) * Math.cos(2 * Math.PI * r());
  return (n: number, ms: number, cv: number, outliers = 0) =>
    Array.from(
      { length: n },
      () => ms * Math.exp(cv * normal()) * (r() < outliers ? 1.5 + r() : 1),
    );
}

/** The share of `trials` pairs (baseline at 10 ms, current at 10·slowdown ms) flagged. */
function flagRate(opts: {
  trials: number;
  n: number;
  cv: number;
  slowdown: number;
  outliers?: number;
}): number {
  const draw = timings(20261122);
  let flagged = 0;
  for (let i = 0; i < opts.trials; i++) {
    const before = draw(opts.n, 10, opts.cv, opts.outliers);
    const after = draw(opts.n, 10 * opts.slowdown, opts.cv, opts.outliers);
    if (verdict(before, after).status === "regression") flagged++;
  }
  return flagged / opts.trials;
}

describe("the regression verdict on synthetic timings", () => {
  test("same-distribution samples are flagged in under 1 % of pairs (the false-alarm rate: 0.4 % measured, 12 samples, 5 % noise, 5 % outliers)", () => {
    const rate = flagRate({ trials: 4000, n: 12, cv: 0.05, slowdown: 1, outliers: 0.05 });
    // Under the null, Welch's one-sided p < 0.01 alone fires 1 % of the time; the 5 % threshold
    // on both ratios removes most of those.
    expect(rate).toBeLessThan(0.01);
  });

  test("a kernel slowed by 10 % is flagged in over 95 % of runs (12 samples, 3 % noise, 5 % outliers)", () => {
    expect(
      flagRate({ trials: 1000, n: 12, cv: 0.03, slowdown: 1.1, outliers: 0.05 }),
    ).toBeGreaterThan(0.95);
  });

  test("a 10 % slowdown is still caught in over 95 % of runs with 5 % noise", () => {
    expect(flagRate({ trials: 1000, n: 12, cv: 0.05, slowdown: 1.1 })).toBeGreaterThan(0.95);
  });

  test("a 3 % slowdown, real but under the 5 % threshold, is flagged in under 1 % of runs (20 samples, 2 % noise)", () => {
    expect(flagRate({ trials: 2000, n: 20, cv: 0.02, slowdown: 1.03 })).toBeLessThan(0.01);
  });

  test("slow outliers are dropped before the t-test, and nothing else is", () => {
    const xs = [10, 10.2, 9.9, 10.1, 10, 30, 10.05, 9.95];
    expect(trimSlow(xs)).toEqual([...xs].filter((x) => x < 30).sort((a, b) => a - b));
    expect(trimSlow([5, 5, 5, 5, 5, 5.04])).toHaveLength(6);
  });

  test("a faster run is an improvement, never a regression", () => {
    const draw = timings(7);
    expect(verdict(draw(12, 10, 0.02), draw(12, 8, 0.02)).status).toBe("improvement");
  });
});

// ---------------------------------------------------------------------------------------------
// Results files.

function results(cases: Partial<CaseResult>[]): BenchResults {
  return {
    schema: 1,
    key: "test",
    date: "2026-01-01T00:00:00.000Z",
    machine: { cpu: "x", cores: 1, memoryGiB: 1, node: "v20", platform: "linux", arch: "x64" },
    options: { full: false, timeMs: 1, minSamples: 1 },
    cases: cases.map((c) => ({
      name: "softmax([2, 3])",
      op: "softmax",
      group: "ops",
      tier: "quick",
      backend: "cpu32",
      side: "ours",
      bytes: 0,
      flops: 0,
      firstMs: 1,
      samples: [],
      median: 0,
      mean: 0,
      ...c,
    })),
    laws: [],
    skipped: [],
  };
}

describe("comparing a run with its baseline", () => {
  const draw = timings(99);
  const base = results([
    { name: "a", samples: draw(20, 10, 0.02) },
    {
      name: "b",
      samples: draw(20, 10, 0.02),
      gpu: { samples: draw(20, 5, 0.02), median: 5, passes: 1 },
    },
    { name: "gone", samples: draw(20, 10, 0.02) },
  ]);
  const now = results([
    { name: "a", samples: draw(20, 10, 0.02) },
    {
      name: "b",
      samples: draw(20, 10, 0.02),
      gpu: { samples: draw(20, 6, 0.02), median: 6, passes: 1 },
    },
    { name: "fresh", samples: draw(20, 10, 0.02) },
  ]);
  const rows = new Map(compareResults(base, now).map((r) => [r.id, r.status]));

  test("each case gets a verdict by backend and name, kernel times separately", () => {
    expect(rows.get("cpu32 a")).toBe("unchanged");
    expect(rows.get("cpu32 b")).toBe("unchanged");
    expect(rows.get("cpu32 b [kernel]")).toBe("regression");
  });

  test("cases on one side only are reported as new or missing, not compared", () => {
    expect(rows.get("cpu32 fresh")).toBe("new");
    expect(rows.get("cpu32 gone")).toBe("missing");
  });
});

test("every bench case has a unique literal-call name and a floor: bytes moved and FLOPs", () => {
  const cases = benchCases(true);
  expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  for (const c of cases) {
    expect(c.bytes, c.name).toBeGreaterThan(0);
    expect(c.flops, c.name).toBeGreaterThanOrEqual(0);
  }
  const byName = new Map(cases.map((c) => [c.name, c]));
  const mm = byName.get("matmul([511, 511] × [511, 511])")!;
  expect(mm.flops).toBe(2 * 511 ** 3);
  expect(mm.bytes).toBe(4 * 3 * 511 ** 2);
  expect(byName.get("softmax([4096, 32000])")?.bytes).toBe(2 * 4 * 4096 * 32000);
});

// A real kernel, deliberately slowed: cpu32's softmax run three times per call. The two are
// measured in alternating rounds, so drift in the machine's load hits both alike; a 3× slowdown
// cannot hide in that noise. Only the verdict is asserted, never a time.
test("the checker flags a real kernel made 3× slower, measured through the bench runner", async () => {
  const [c] = benchCases().filter((c) => c.name === "softmax([128, 1000])");
  const steps = c.steps("float32");
  const softmax = cpu32.kernels.softmax!;
  const slowed: Backend = {
    ...cpu32,
    kernels: {
      softmax: async (inputs, attrs) => {
        await softmax(inputs, attrs);
        await softmax(inputs, attrs);
        return softmax(inputs, attrs);
      },
    },
  };
  // A discarded round first, so that neither side pays for the JIT. Then many short rounds: on
  // a loaded 2-core machine one round can be descheduled as a whole. Three rounds of 5 samples
  // failed once in CI, and with four busy loops on the two cores left Welch's p as high as
  // 2e-3 in 12 tries; eight rounds of ten kept it below 1e-10 there.
  for (const b of [cpu32, slowed]) await measure(b, steps, { timeMs: 5, minSamples: 3 });
  const before: number[] = [];
  const after: number[] = [];
  for (let round = 0; round < 8; round++) {
    before.push(...(await measure(cpu32, steps, { timeMs: 10, minSamples: 5 }))!.samples);
    after.push(...(await measure(slowed, steps, { timeMs: 10, minSamples: 5 }))!.samples);
  }
  const v = verdict(before, after);
  expect(v.medianRatio).toBeGreaterThan(SLOWDOWN);
  expect(v.status).toBe("regression");
});

// The check without a baseline, as on a machine that has none: a worktree of HEAD whose cpu32
// softmax is slowed 3× (the branch under test), timed against this tree in one run through
// `bench:check --against`'s own code. Small case, few samples: a few seconds.
test("bench:check --against times a reference tree and a tree with a kernel slowed 3× in one run, and flags that kernel alone", async () => {
  const slowed = addWorktree("HEAD");
  try {
    appendFileSync(
      join(slowed.dir, "src", "engine", "cpu", "index.ts"),
      `
// Deliberately slowed by bench/check.test.ts: cpu32's softmax computed three times per call.
const slowedSoftmax = cpu32.kernels.softmax!;
cpu32.kernels.softmax = async (inputs, attrs) => {
  await slowedSoftmax(inputs, attrs);
  await slowedSoftmax(inputs, attrs);
  return slowedSoftmax(inputs, attrs);
};
`,
    );
    const { ref, current } = await pairedRun({
      refDir: repoRoot,
      currentDir: slowed.dir,
      full: false,
      // Enough samples and rounds that two busy test workers beside it do not hide a 3×
      // slowdown: with 50 ms, 12 samples and 3 rounds, a full run read it as 1.6-1.9× (once as
      // unchanged) while another worker started processes.
      timeMs: 150,
      minSamples: 36,
      rounds: 6,
      filter: /^softmax\(\[128, 1000\]\)$/,
      backends: ["cpu32", "cpu"],
    });
    const rows = new Map(compareResults(ref, current).map((r) => [r.id, r]));
    const hit = rows.get("cpu32 softmax([128, 1000])");
    expect(hit?.status).toBe("regression");
    // Alone it reads about 5×; beside two busy test workers, 1.6–1.9× (CI, this stop): the
    // verdict above is the check, this only says the slowdown it found is a large one.
    expect(hit?.verdict?.medianRatio).toBeGreaterThan(1.5);
    // The same case on the float64 backend, untouched, is never more than a little off.
    expect(rows.get("cpu softmax([128, 1000])")?.verdict?.medianRatio).toBeLessThan(2);
  } finally {
    slowed.remove();
  }
});

test("REF defaults to where this branch left main, and names a commit", () => {
  const { ref, sha } = resolveRef();
  expect(sha).toMatch(/^[0-9a-f]{40}$/);
  expect(ref).toMatch(/^merge-base\(HEAD, (origin\/)?main\)$|^HEAD$/);
  expect(resolveRef("HEAD").sha).toMatch(/^[0-9a-f]{40}$/);
});

// ---------------------------------------------------------------------------------------------
// Reading the numbers: kernel times, peaks, targets, where files go.

describe("the floor and target tables", () => {
  const gpuCase = (
    backend: string,
    name: string,
    op: string,
    e2e: number,
    kernel: number,
    q?: number,
  ) => ({
    name,
    op,
    group: "shapes" as const,
    backend,
    side: backend === "webgpu" ? ("ours" as const) : ("theirs" as const),
    bytes: 8e9,
    flops: 2e9,
    samples: [e2e, e2e],
    median: e2e,
    mean: e2e,
    gpu: { samples: [kernel], median: kernel, passes: 1, ...(q && { quantumMs: q }) },
  });

  test("a kernel time rounded by quantized timestamps counts only from 20 quanta up", () => {
    const [c] = results([gpuCase("tfjs-webgpu", "x", "softmax", 5, 0.0655, 0.065536)]).cases;
    expect(kernelMs(c)).toBeUndefined();
    c.gpu = { samples: [2.6], median: 2.6, passes: 1, quantumMs: 0.065536 };
    expect(kernelMs(c)).toBe(2.6);
    c.gpu = { samples: [0.01], median: 0.01, passes: 1 };
    expect(kernelMs(c)).toBe(0.01);
    c.gpu = { samples: [0], median: 0, passes: 1 };
    expect(kernelMs(c)).toBeUndefined();
  });

  test("the targets compare kernel times, and a real GPU's floor uses the measured copy bandwidth", () => {
    const r = results([
      gpuCase("webgpu", "softmax([4096, 32000])", "softmax", 100, 4),
      gpuCase("tfjs-webgpu", "softmax([4096, 32000])", "softmax", 150, 8),
      gpuCase("webgpu", "cross_entropy_fused([8, 8])", "cross_entropy_fused", 100, 6),
      gpuCase("tfjs-webgpu", "cross_entropy_fused([8, 8])", "cross_entropy_fused", 150, 9),
    ]);
    r.adapter = {
      vendor: "nvidia",
      architecture: "",
      description: "H100",
      device: "",
      features: [],
    };
    r.copyGBps = 4000;
    const rows = targetTable(r)!.split("\n").slice(2);
    // 8 GB in 4 ms is 2000 GB/s: half the copy bandwidth, short of 60 % by 1/6.
    expect(rows[0]).toBe(
      "| `softmax([4096, 32000])` | 1.50 | 2.00 | ≥ 1.5× | met | 50 % of copy | missed by 17 % |",
    );
    expect(rows[1]).toContain("| 1.50 | ≥ 2× | missed by 25 % |");
  });

  test("H100 and H200 adapters get their datasheet FP32 peak, others none", () => {
    const adapter = (description: string) => ({
      vendor: "nvidia",
      architecture: "",
      description,
      device: "",
      features: [],
    });
    expect(datasheetPeak(adapter("NVIDIA H100 80GB HBM3"))?.gflops).toBe(66_900);
    expect(datasheetPeak(adapter("NVIDIA H100 PCIe"))?.gflops).toBe(51_200);
    expect(datasheetPeak(adapter("SwiftShader Device (Subzero)"))).toBeUndefined();
  });
});

test("results go under the working directory unless BENCH_RESULTS_DIR says otherwise, rounded to six digits", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  const before = process.env.BENCH_RESULTS_DIR;
  try {
    delete process.env.BENCH_RESULTS_DIR;
    expect(resultsPath("k")).toBe(join(process.cwd(), "bench", "results", "k.json"));
    process.env.BENCH_RESULTS_DIR = dir;
    const path = resultsPath("k");
    expect(path).toBe(join(dir, "k.json"));
    const r = results([{ name: "a", samples: [1.23456789, 2] }]);
    writeResults(path, r);
    expect(readResults(path).cases[0].samples).toEqual([1.23457, 2]);
  } finally {
    if (before === undefined) delete process.env.BENCH_RESULTS_DIR;
    else process.env.BENCH_RESULTS_DIR = before;
    rmSync(dir, { recursive: true });
  }
});

test("a long series is thinned to evenly spaced samples, a short one kept whole", () => {
  const xs = Array.from({ length: 1000 }, (_, i) => i);
  const kept = retain(xs, 200);
  expect(kept).toHaveLength(200);
  expect(kept.slice(0, 3)).toEqual([0, 5, 10]);
  expect(retain([3, 1, 2], 200)).toEqual([3, 1, 2]);
});

test("a run where most series moved together is reported as machine drift, not as kernel changes", () => {
  const draw = timings(5);
  const cases = (ms: number) =>
    results(Array.from({ length: 10 }, (_, i) => ({ name: `c${i}`, samples: draw(20, ms, 0.02) })));
  const slowMachine = compareResults(cases(10), cases(13));
  expect(machineDrift(slowMachine)).toMatch(/100 % of the series are over 5 % slower/);
  expect(machineDrift(compareResults(cases(10), cases(10)))).toBeUndefined();
});

describe("runs of the same code shift as a whole between processes", () => {
  // Each run multiplies all its samples by its own factor e^(σ_b·Z): what JIT decisions, memory
  // placement and other processes do to a run on a shared machine (measured here: σ_b ≈ 10 %).
  const sigmaB = 0.1;
  function runPair(seed: number, slowdown: number) {
    const r = rng(seed);
    const normal = () => Math.sqrt(-2 * Math.log(r() || 2 ** -32)) * Math.cos(2 * Math.PI * r());
    const draw = timings(seed + 1);
    const before = draw(40, 10 * Math.exp(sigmaB * normal()), 0.05);
    const after = draw(40, 10 * slowdown * Math.exp(sigmaB * normal()), 0.05);
    return { before, after };
  }
  const rate = (slowdown: number, runSd: number) => {
    let flagged = 0;
    for (let i = 0; i < 1000; i++) {
      const { before, after } = runPair(7919 * i + 17, slowdown);
      if (verdict(before, after, runSd).status === "regression") flagged++;
    }
    return flagged / 1000;
  };

  test("Welch's test alone flags same-code runs often: it sees only the spread within a run", () => {
    expect(rate(1, 0)).toBeGreaterThan(0.2);
  });

  test("with the machine's between-run spread, same-code runs are flagged at about the test's α = 1 %", () => {
    // 1000 seeded checks: 1 % is 10 ± 3 of them.
    expect(rate(1, sigmaB)).toBeLessThan(0.02);
  });

  test("with it, a 2× slower kernel is still flagged in over 95 % of checks", () => {
    expect(rate(2, sigmaB)).toBeGreaterThan(0.95);
  });

  test("runSpread recovers the between-run spread from one pair of same-code runs over many series", () => {
    const ratios = Array.from({ length: 300 }, (_, i) => {
      const { before, after } = runPair(104729 * i + 3, 1);
      return median(after) / median(before);
    });
    // Within-run noise adds a little: 5 % over 40 samples is about 1 % per median.
    expect(runSpread(ratios)).toBeGreaterThan(0.9 * sigmaB);
    expect(runSpread(ratios)).toBeLessThan(1.15 * sigmaB);
  });
});

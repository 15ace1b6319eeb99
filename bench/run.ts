/**
 * `npm run bench`: runs the suite, prints the tables, writes bench/results/<key>.json.
 * `npm run bench:check`: the same run (with the baseline's options), then compares it with
 * bench/baselines/<key>.json; exits 1 on a regression. Where this machine has no baseline, or
 * with --against REF, it times REF (default: the merge base of HEAD with main, checked out in a
 * temporary worktree) and the working tree in the same run instead (bench/against.ts).
 *
 * Flags: --full (real-GPU sizes; or BENCH_FULL=1), --filter REGEX (case names), --backends
 * cpu,cpu32,webgpu,tfjs-cpu,tfjs-webgpu, --time MS and --samples N (per case), --max-case MS
 * (slower calls get fewer samples), --deadline S (start no case after S seconds), --no-laws,
 * --calibrate FILE (store in this machine's baseline the between-run spread of FILE, a second
 * run of the same code), --against REF (with --check: compare with REF timed in this run, not
 * with a baseline), --rounds N (with --against: REF and the working tree alternate N times per
 * case; default 4), --confirm (internal: the re-measurement of flagged series in a fresh
 * process), --out FILE.json or DIR (or BENCH_RESULTS_DIR), --baselines DIR (or
 * BENCH_BASELINES_DIR),
 * --baseline (also store the run as this machine's baseline), --results FILE (print that
 * file's tables; with --check, compare it instead of running). BENCH_PEAK_GFLOPS: the GPU's
 * FP32 peak (known H100/H200 models default to their datasheet's).
 *
 * Paths are relative to the working directory: this file also runs bundled into one .mjs.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { addWorktree, OUR_BACKENDS, pairedRun, repoRoot, resolveRef } from "./against.ts";
import {
  calibrate,
  compareResults,
  comparisonReport,
  machineSpeed,
  pool,
  regressed,
} from "./compare.ts";
import { fullReport } from "./report.ts";
import {
  type BenchResults,
  baselinePath,
  baselinesDir,
  readResults,
  resultsDir,
  resultsPath,
  writeResults,
} from "./results.ts";
import { currentKey, defaultOptions, runSuite } from "./suite.ts";

// Bundled into one ESM file (esbuild --format=esm), TensorFlow.js's CommonJS build still calls
// require() for Node's built-ins, and esbuild's shim for it looks for a global one at call time.
const global = globalThis as { require?: NodeRequire };
global.require ??= createRequire(import.meta.url);

const { values: args } = parseArgs({
  options: {
    full: { type: "boolean", default: process.env.BENCH_FULL === "1" },
    filter: { type: "string" },
    backends: { type: "string" },
    time: { type: "string" },
    samples: { type: "string" },
    "max-case": { type: "string" },
    deadline: { type: "string" },
    "no-laws": { type: "boolean", default: false },
    out: { type: "string" },
    baselines: { type: "string" },
    baseline: { type: "boolean", default: false },
    check: { type: "boolean", default: false },
    results: { type: "string" },
    calibrate: { type: "string" },
    confirm: { type: "boolean", default: false },
    against: { type: "string" },
    rounds: { type: "string" },
  },
});

function positive(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`bench: ${flag} ${text} is not > 0`);
  return v;
}

const BACKENDS = ["cpu", "cpu32", "webgpu", "tfjs-cpu", "tfjs-webgpu"];
const backends = args.backends?.split(",").map((s) => s.trim());
for (const b of backends ?? []) {
  if (!BACKENDS.includes(b)) {
    throw new RangeError(`bench: --backends ${b} is not one of ${BACKENDS.join(", ")}`);
  }
}
const baselines = args.baselines ?? baselinesDir();
const outFor = (key: string) =>
  args.out?.endsWith(".json") ? args.out : resultsPath(key, args.out ?? resultsDir());

async function run(defaults: { full: boolean; timeMs: number; minSamples: number }) {
  let out: string | undefined;
  let lastSave = 0;
  const save = (r: BenchResults, force = false) => {
    // Every few seconds while running: a run cut short by a time limit keeps what it measured.
    if (!force && performance.now() - lastSave < 5000) return;
    out = outFor(r.key);
    writeResults(out, r);
    lastSave = performance.now();
  };
  const results = await runSuite({
    full: args.full || defaults.full,
    timeMs: positive("--time", args.time) ?? defaults.timeMs,
    minSamples: Math.round(positive("--samples", args.samples) ?? defaults.minSamples),
    maxCaseMs: positive("--max-case", args["max-case"]),
    deadlineMs: (positive("--deadline", args.deadline) ?? Number.POSITIVE_INFINITY) * 1000,
    filter: args.filter ? new RegExp(args.filter) : undefined,
    backends,
    laws: !args["no-laws"],
    peakGflops: positive("BENCH_PEAK_GFLOPS", process.env.BENCH_PEAK_GFLOPS),
    log: (line) => console.log(line),
    checkpoint: (r) => save(r),
  });
  save(results, true);
  console.log(`\n${fullReport(results)}\n\nresults: ${out} (${results.wallSeconds?.toFixed(0)} s)`);
  if (args.baseline) {
    const path = baselinePath(results.key, baselines);
    writeResults(path, results);
    console.log(`baseline: ${path}`);
  }
  return results;
}

async function check(): Promise<number> {
  let current: BenchResults;
  let baseline: BenchResults | undefined;
  if (args.results) {
    current = readResults(args.results);
  } else {
    // Run with the options the baseline was recorded with, when it exists already.
    const key = await currentKey();
    const path = baselinePath(key, baselines);
    baseline = existsSync(path) ? readResults(path) : undefined;
    if (args.against !== undefined || !baseline) {
      if (!baseline) console.log(`bench:check: no baseline for ${key} at ${path}`);
      return checkAgainst(args.against || undefined);
    }
    current = await run(baseline.options);
  }
  const path = baselinePath(current.key, baselines);
  baseline ??= existsSync(path) ? readResults(path) : undefined;
  if (!baseline) {
    console.error(
      `bench:check: no baseline for ${current.key} at ${path}; record one with npm run bench -- --baseline`,
    );
    return 2;
  }
  const rows = compareResults(baseline, current);
  const speed = machineSpeed(baseline, current);
  console.log(
    `\nbench:check against ${path} (${baseline.date})\n${comparisonReport(rows, speed, baseline.runSd)}`,
  );
  // A confirming run judges only the series its parent flagged (passed in BENCH_CONFIRM_IDS).
  const flagged = args.confirm
    ? new Set<string>(JSON.parse(process.env.BENCH_CONFIRM_IDS ?? "[]"))
    : undefined;
  const suspects = regressed(rows).filter((r) => !flagged || flagged.has(r.id));
  if (suspects.length === 0) return 0;
  if (args.confirm || args.results) {
    if (flagged) console.log(`confirmed: ${suspects.map((r) => r.id).join(", ")}`);
    return 1;
  }
  return confirm(suspects.map((r) => r.id));
}

const escapeRegExp = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Measures the suspects again in a fresh process: what shifts a whole series between runs of
 * the same code (JIT decisions, memory placement) is drawn anew there, so a same-code series is
 * flagged twice about as rarely as α², while a kernel that really got slower is flagged again.
 * Only the series flagged in both runs fail the check.
 */
function confirm(ids: string[], against?: { sha: string; dir: string }): number {
  const laws = ids.some((id) => id.endsWith("[ms per case]"));
  const names = new Set(
    ids
      .filter((id) => !id.endsWith("[ms per case]"))
      .map((id) => id.slice(id.indexOf(" ") + 1).replace(/ \[kernel\]$/, "")),
  );
  const again = [
    ...process.execArgv,
    process.argv[1],
    "--check",
    "--confirm",
    "--out",
    join(mkdtempSync(join(tmpdir(), "bench-confirm-")), "results.json"),
    ...(names.size > 0
      ? ["--filter", `^(${[...names].map(escapeRegExp).join("|")})$`]
      : ["--filter", "^$"]),
    ...(laws ? [] : ["--no-laws"]),
    ...(args.baselines ? ["--baselines", args.baselines] : []),
    ...(against
      ? [
          "--against",
          against.sha,
          ...(args.backends ? ["--backends", args.backends] : []),
          ...(args.full ? ["--full"] : []),
          ...(args.time ? ["--time", args.time] : []),
          ...(args.samples ? ["--samples", args.samples] : []),
          ...(args.rounds ? ["--rounds", args.rounds] : []),
        ]
      : []),
  ];
  console.log(
    `\n${ids.length} series flagged: measuring them again in a fresh process to confirm\n`,
  );
  const child = spawnSync(process.execPath, again, {
    stdio: "inherit",
    env: {
      ...process.env,
      BENCH_CONFIRM_IDS: JSON.stringify(ids),
      // The confirming run times the same REF tree: no second checkout.
      ...(against && { BENCH_AGAINST_DIR: against.dir }),
    },
  });
  return child.status === 0 ? 0 : 1;
}

/**
 * The check without a stored baseline: REF and the working tree timed in this run, interleaved
 * case by case (bench/against.ts), REF's series in the baseline's place. Flagged series are
 * measured again, the same way, in a fresh process.
 */
async function checkAgainst(refArg: string | undefined): Promise<number> {
  const { ref, sha } = resolveRef(refArg);
  const reuse = process.env.BENCH_AGAINST_DIR;
  const tree = reuse ? undefined : addWorktree(sha);
  const dir = reuse ?? tree!.dir;
  try {
    const wanted = backends?.filter((b) => (OUR_BACKENDS as readonly string[]).includes(b));
    console.log(
      `bench:check against ${ref} (${sha.slice(0, 12)}), checked out in ${dir}: it and the working tree timed in this run, case by case`,
    );
    const paired = await pairedRun({
      refDir: dir,
      currentDir: repoRoot,
      full: args.full,
      timeMs: positive("--time", args.time) ?? defaultOptions.timeMs,
      minSamples: Math.round(positive("--samples", args.samples) ?? defaultOptions.minSamples),
      maxCaseMs: positive("--max-case", args["max-case"]),
      rounds: Math.round(positive("--rounds", args.rounds) ?? 4),
      filter: args.filter ? new RegExp(args.filter) : undefined,
      backends: wanted?.length ? wanted : undefined,
      log: (line) => console.log(line),
    });
    const out = outFor(paired.current.key);
    writeResults(out, paired.current);
    writeResults(out.replace(/\.json$/, `.ref-${sha.slice(0, 12)}.json`), paired.ref);
    for (const s of [...paired.ref.skipped, ...paired.current.skipped])
      console.log(`skipped: ${s.backend}: ${s.reason}`);
    const rows = compareResults(paired.ref, paired.current);
    console.log(
      `\nbench:check against ${ref} (${sha.slice(0, 12)}), timed in the same run (${paired.current.wallSeconds?.toFixed(0)} s; results: ${out})\n${comparisonReport(rows)}`,
    );
    const flagged = args.confirm
      ? new Set<string>(JSON.parse(process.env.BENCH_CONFIRM_IDS ?? "[]"))
      : undefined;
    const suspects = regressed(rows).filter((r) => !flagged || flagged.has(r.id));
    if (suspects.length === 0) return 0;
    if (args.confirm) {
      console.log(`confirmed: ${suspects.map((r) => r.id).join(", ")}`);
      return 1;
    }
    return confirm(
      suspects.map((r) => r.id),
      { sha, dir },
    );
  } finally {
    tree?.remove();
  }
}

/** Stores in this machine's baseline the between-run spread of a second, same-code run. */
function calibrateBaseline(file: string): number {
  const sameCode = readResults(file);
  const path = baselinePath(sameCode.key, baselines);
  if (!existsSync(path)) {
    console.error(`bench:check: no baseline for ${sameCode.key} at ${path}`);
    return 2;
  }
  const baseline = readResults(path);
  const runSd = calibrate(baseline, sameCode);
  writeResults(path, { ...pool(baseline, sameCode), runSd });
  console.log(
    `between-run spread of ${file} against ${path}: ${(100 * runSd).toFixed(2)} %; its samples pooled into the baseline`,
  );
  return 0;
}

if (args.calibrate) process.exitCode = calibrateBaseline(args.calibrate);
else if (args.check) process.exitCode = await check();
else if (args.results) console.log(fullReport(readResults(args.results)));
else await run(defaultOptions);

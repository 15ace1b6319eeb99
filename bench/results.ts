/**
 * The results file of a bench run: every case's retained samples, the machine and the adapter,
 * keyed so that a run is only ever compared with a baseline from the same kind of machine.
 *
 *   bench/results/<key>.json    written by `npm run bench`
 *   bench/baselines/<key>.json  a results file someone chose to keep (committed)
 *
 * Both folders are relative to the working directory, not to this file: the bench also runs as
 * a single bundled .mjs on machines without the sources. BENCH_RESULTS_DIR and
 * BENCH_BASELINES_DIR move them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Group, Tier } from "./cases.ts";

export const SCHEMA = 1;

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  arch: string;
}

export interface AdapterRecord {
  vendor: string;
  architecture: string;
  description: string;
  device: string;
  features: string[];
}

/** One case on one backend. Times in ms. */
export interface CaseResult {
  /** The literal call. */
  name: string;
  op: string;
  group: Group;
  tier: Tier;
  /** Backend name: cpu, cpu32, webgpu (ours), tfjs-cpu, tfjs-webgpu (theirs). */
  backend: string;
  side: "ours" | "theirs";
  bytes: number;
  flops: number;
  /** The first call: pipeline compilation (GPU) or JIT (CPU) included. */
  firstMs: number;
  /** Pipelines the first call built (our WebGPU backend only). */
  pipelinesBuilt?: number;
  /**
   * Steady-state end-to-end latency per call (upload, kernels, readback): tinybench samples, at
   * most RETAINED of them (median and mean are of all).
   */
  samples: number[];
  median: number;
  mean: number;
  /**
   * GPU time of the call's compute passes from timestamp queries, one per sample. quantumMs:
   * the device rounds timestamps to this step (Dawn's default), so short kernels read as 0.
   */
  gpu?: { samples: number[]; median: number; passes: number; quantumMs?: number };
}

export interface LawWorkload {
  /** The laws and fast-check runs per property, e.g. `laws(softmax, runs=10)`. */
  name: string;
  backend: string;
  laws: number;
  /** Property cases (fast-check runs) per repetition. */
  cases: number;
  kernelCalls: number;
  /** ms per property case, one per repetition (what the checker compares). */
  samples: number[];
  casesPerSecond: number;
}

export interface BenchResults {
  schema: number;
  key: string;
  date: string;
  machine: Machine;
  /** The adapter our webgpu backend ran on, or undefined without one. */
  adapter?: AdapterRecord;
  options: { full: boolean; timeMs: number; minSamples: number };
  /** Device copy bandwidth (copyBufferToBuffer: bytes read + bytes written per second). */
  copyGBps?: number;
  /** How copyGBps was measured: copyBufferToBuffer and a copy kernel (bench/suite.ts). */
  copy?: { bufferGBps: number; kernelGBps: number; bytes: number };
  /** Peak FP32 GFLOP/s (BENCH_PEAK_GFLOPS, or a datasheet's): the FLOP floor's denominator. */
  peakGflops?: number;
  /** Where peakGflops comes from. */
  peakSource?: string;
  /** Baselines only: the relative spread of a series' level between same-code runs on this
   * machine (stats.ts runSpread), set by `bench:check --calibrate FILE`; 0 or absent: none. */
  runSd?: number;
  /** Baselines only: how many same-code runs its samples pool (1 when absent). */
  runs?: number;
  /** Seconds the whole run took. */
  wallSeconds?: number;
  cases: CaseResult[];
  laws: LawWorkload[];
  /** Backends that could not run, and why (e.g. the TensorFlow.js adapter is missing). */
  skipped: { backend: string; reason: string }[];
}

/** Samples kept per series: enough for the checker, and a baseline file stays small. */
export const RETAINED = 200;

/**
 * At most RETAINED of `samples`, evenly spaced in time order (a fast case yields thousands; a
 * stride keeps drift over the run in the sample, as a random subset would, deterministically).
 */
export function retain(samples: readonly number[], max = RETAINED): number[] {
  if (samples.length <= max) return [...samples];
  const stride = samples.length / max;
  return Array.from({ length: max }, (_, i) => samples[Math.floor(i * stride)]);
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
  };
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/\((r|tm)\)/g, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");

/**
 * A stable key for "this kind of machine": the adapter (or "no-gpu"), the CPU model and the
 * core count, e.g. `google-swiftshader--intel-xeon-processor-2c`. The CPU is in the key even
 * with a GPU: the CPU backends and every round trip run on it.
 */
export function machineKey(m: Machine, adapter?: AdapterRecord): string {
  const gpu = adapter
    ? slug([adapter.vendor, adapter.architecture, adapter.device].filter((s) => s).join("-"))
    : "no-gpu";
  return `${gpu || "unknown-gpu"}--${slug(m.cpu)}-${m.cores}c`;
}

export const resultsDir = () => resolve(process.env.BENCH_RESULTS_DIR || join("bench", "results"));
export const baselinesDir = () =>
  resolve(process.env.BENCH_BASELINES_DIR || join("bench", "baselines"));
export const resultsPath = (key: string, dir = resultsDir()) => join(dir, `${key}.json`);
export const baselinePath = (key: string, dir = baselinesDir()) => join(dir, `${key}.json`);

export function writeResults(path: string, results: BenchResults): void {
  mkdirSync(dirname(path), { recursive: true });
  // Six significant digits: timings are not that precise, and baselines are committed.
  const round = (_: string, v: unknown) =>
    typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v;
  writeFileSync(path, `${JSON.stringify(results, round, 1)}\n`);
}

export function readResults(path: string): BenchResults {
  if (!existsSync(path)) throw new Error(`bench: no results file at ${path}`);
  const parsed = JSON.parse(readFileSync(path, "utf8")) as BenchResults;
  if (parsed.schema !== SCHEMA || !Array.isArray(parsed.cases)) {
    throw new Error(`bench: ${path} is not a results file of schema ${SCHEMA}`);
  }
  return parsed;
}

/** The identity of a measurement across runs. */
export const caseId = (c: { backend: string; name: string }) => `${c.backend} ${c.name}`;

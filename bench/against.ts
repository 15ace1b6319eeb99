/**
 * `bench:check --against REF`: a regression check that needs no stored baseline. REF (default:
 * the merge base of HEAD with main) is checked out in a temporary git worktree, and its backends
 * and the working tree's are timed in the same process, case by case, in alternating rounds:
 * whatever the machine does (other processes, clocks) hits both alike, so the ratio of the two is
 * what this run can tell, on any machine. compare.ts then judges it with the same statistics as
 * a baseline (REF's series in the baseline's place).
 *
 * Only our backends are timed (cpu, cpu32, webgpu): TensorFlow.js's code is the same on both
 * sides. The worktree uses the working tree's node_modules: only our code differs.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Backend } from "../src/engine/contract.ts";
import type { WebGpuBackend } from "../src/engine/webgpu/index.ts";
import { type BenchCase, benchCases, type Step } from "./cases.ts";
import {
  type AdapterRecord,
  type BenchResults,
  type CaseResult,
  machine,
  machineKey,
  retain,
  SCHEMA,
} from "./results.ts";
import { mean, median } from "./stats.ts";
import { type Measured, measure } from "./suite.ts";
import { PassTimer, QUANTUM_NS } from "./timestamps.ts";

/** The repository this file is in: the working tree whose code is checked. */
export const repoRoot = resolve(import.meta.dirname, "..");

const git = (args: string[], cwd = repoRoot) =>
  execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/**
 * REF as a commit. Without one: where this branch left main (the merge base of HEAD with main,
 * or with origin/main in a clone that has no local main); on main itself that is HEAD, and the
 * check times the uncommitted changes.
 */
export function resolveRef(ref?: string, cwd = repoRoot): { ref: string; sha: string } {
  if (ref) return { ref, sha: git(["rev-parse", "--verify", `${ref}^{commit}`], cwd) };
  for (const main of ["main", "origin/main"]) {
    try {
      return { ref: `merge-base(HEAD, ${main})`, sha: git(["merge-base", "HEAD", main], cwd) };
    } catch {
      // No such branch here: try the next.
    }
  }
  return { ref: "HEAD", sha: git(["rev-parse", "--verify", "HEAD^{commit}"], cwd) };
}

export interface Worktree {
  dir: string;
  sha: string;
  remove(): void;
}

/** A detached worktree of `sha` in a temporary folder, with the working tree's node_modules. */
export function addWorktree(sha: string, cwd = repoRoot): Worktree {
  const parent = mkdtempSync(join(tmpdir(), "bench-against-"));
  const dir = join(parent, "tree");
  git(["worktree", "add", "--detach", "--quiet", dir, sha], cwd);
  const modules = join(dir, "node_modules");
  symlinkSync(join(cwd, "node_modules"), modules, "dir");
  return {
    dir,
    sha,
    remove() {
      // The link first: git must not walk into the shared node_modules.
      if (existsSync(modules)) unlinkSync(modules);
      try {
        git(["worktree", "remove", "--force", dir], cwd);
      } catch {
        git(["worktree", "prune"], cwd);
      }
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

/** Where a tree keeps its backends: this layout, and the one before src/ had layers. */
const MODULES = {
  cpu: ["src/engine/cpu/index.ts", "src/cpu/index.ts"],
  webgpu: ["src/engine/webgpu/index.ts", "src/webgpu/index.ts"],
};

const UNQUANTIZED = "disable-dawn-features=timestamp_quantization";

async function importFrom(dir: string, candidates: readonly string[]) {
  const file = candidates.map((c) => join(dir, c)).find((f) => existsSync(f));
  if (!file) throw new Error(`none of ${candidates.join(", ")} in ${dir}`);
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

export const OUR_BACKENDS = ["cpu", "cpu32", "webgpu"] as const;

interface Tree {
  backends: Map<string, { backend: Backend; timer?: PassTimer }>;
  adapter?: AdapterRecord;
  dispose(): void;
}

/** A tree's own backends, loaded from its files (a module instance apart from any other tree's). */
async function treeBackends(dir: string, wanted: readonly string[]): Promise<Tree> {
  const backends: Tree["backends"] = new Map();
  if (wanted.includes("cpu") || wanted.includes("cpu32")) {
    const mod = await importFrom(dir, MODULES.cpu);
    for (const name of ["cpu", "cpu32"])
      if (wanted.includes(name) && mod[name]) backends.set(name, { backend: mod[name] as Backend });
  }
  let gpu: WebGpuBackend | undefined;
  if (wanted.includes("webgpu")) {
    const mod = await importFrom(dir, MODULES.webgpu);
    const create = mod.createWebGpuBackend as (o: object) => Promise<WebGpuBackend | undefined>;
    gpu = await create({ dawnFlags: [UNQUANTIZED] });
    if (gpu) {
      const timer = PassTimer.install(gpu.runtime.device);
      backends.set("webgpu", { backend: gpu, ...(timer && { timer }) });
    }
  }
  const adapter = gpu && { ...gpu.adapterInfo, features: [...gpu.runtime.device.features].sort() };
  return {
    backends,
    ...(adapter && { adapter }),
    dispose() {
      for (const { timer } of backends.values()) timer?.uninstall();
      gpu?.dispose();
    },
  };
}

export interface PairedOptions {
  /** The reference tree (REF's worktree) and the tree under test (the working tree). */
  refDir: string;
  currentDir: string;
  full: boolean;
  /** Per case and side, over all rounds (as in a single run: suite.ts). */
  timeMs: number;
  minSamples: number;
  maxCaseMs?: number;
  /** Rounds per case: REF and current alternate, the order flipping each round. */
  rounds?: number;
  filter?: RegExp;
  /** Of cpu, cpu32, webgpu (default: all three). */
  backends?: readonly string[];
  log?: (line: string) => void;
}

function caseResult(c: BenchCase, backend: string, parts: readonly Measured[]): CaseResult {
  const samples = parts.flatMap((m) => m.samples);
  const gpu = parts.flatMap((m) => m.gpu?.samples ?? []);
  const last = parts.at(-1)?.gpu;
  return {
    name: c.name,
    op: c.op,
    group: c.group,
    tier: c.tier,
    backend,
    side: "ours",
    bytes: c.bytes,
    flops: c.flops,
    firstMs: parts[0].firstMs,
    samples: retain(samples),
    median: median(samples),
    mean: mean(samples),
    ...(last &&
      gpu.length > 0 && {
        gpu: {
          samples: retain(gpu),
          median: median(gpu),
          passes: last.passes,
          ...(last.quantized && { quantumMs: QUANTUM_NS / 1e6 }),
        },
      }),
  };
}

/**
 * REF's backends and the working tree's, timed in one process: for each case and backend,
 * `rounds` rounds of REF then current (current then REF in every other round), each a share of
 * the case's time. Returns both as results files, REF's in the baseline's place.
 */
export async function pairedRun(
  o: PairedOptions,
): Promise<{ ref: BenchResults; current: BenchResults }> {
  const wanted = o.backends ?? OUR_BACKENDS;
  const rounds = o.rounds ?? 4;
  const log = o.log ?? (() => {});
  const started = performance.now();
  const ref = await treeBackends(o.refDir, wanted);
  const current = await treeBackends(o.currentDir, wanted);
  const m = machine();
  const skeleton = (tree: Tree): BenchResults => ({
    schema: SCHEMA,
    key: machineKey(m, tree.adapter),
    date: new Date().toISOString(),
    machine: m,
    ...(tree.adapter && { adapter: tree.adapter }),
    options: { full: o.full, timeMs: o.timeMs, minSamples: o.minSamples },
    cases: [],
    laws: [],
    skipped: [],
  });
  const out = { ref: skeleton(ref), current: skeleton(current) };
  const timing = {
    timeMs: o.timeMs / rounds,
    minSamples: Math.max(2, Math.ceil(o.minSamples / rounds)),
    maxCaseMs: (o.maxCaseMs ?? Math.max(2000, 10 * o.timeMs)) / rounds,
  };
  const cases = benchCases(o.full).filter((c) => !o.filter || o.filter.test(c.name));
  try {
    for (const name of wanted) {
      const a = ref.backends.get(name);
      const b = current.backends.get(name);
      if (!a || !b) {
        const reason = `${name} is not available in ${a ? "the working tree" : "REF"}`;
        out.ref.skipped.push({ backend: name, reason });
        continue;
      }
      // As in a single run: the CPU backends time the per-op cases, the GPU also the sweeps.
      const mine = cases.filter((c) => name === "webgpu" || c.group === "ops");
      for (const c of mine) {
        const parts: { ref: Measured[]; current: Measured[] } = { ref: [], current: [] };
        try {
          const steps: Step[] = c.steps(a.backend.dtype);
          for (let round = 0; round < rounds; round++) {
            const order =
              round % 2 === 0 ? (["ref", "current"] as const) : (["current", "ref"] as const);
            for (const side of order) {
              const { backend, timer } = side === "ref" ? a : b;
              const measured = await measure(backend, steps, {
                ...timing,
                ...(timer && { timer }),
              });
              if (!measured)
                throw new Error(
                  `${side === "ref" ? "REF" : "the working tree"} has no kernel for ${c.op}`,
                );
              parts[side].push(measured);
            }
          }
        } catch (e) {
          const reason = `${c.name}: ${(e as Error).message}`;
          out.current.skipped.push({ backend: name, reason });
          log(`${name.padEnd(8)} ${c.name.padEnd(52)} FAILED ${(e as Error).message}`);
          continue;
        }
        const r = caseResult(c, name, parts.ref);
        const s = caseResult(c, name, parts.current);
        out.ref.cases.push(r);
        out.current.cases.push(s);
        log(
          `${name.padEnd(8)} ${c.name.padEnd(52)} REF ${r.median.toFixed(3).padStart(9)} ms  now ${s.median.toFixed(3).padStart(9)} ms  × ${(s.median / r.median).toFixed(3)}`,
        );
      }
    }
  } finally {
    ref.dispose();
    current.dispose();
  }
  const wall = (performance.now() - started) / 1000;
  out.ref.wallSeconds = wall;
  out.current.wallSeconds = wall;
  return out;
}

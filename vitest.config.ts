import { availableParallelism } from "node:os";
import { relative } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The longest files, roughly longest first: their seconds in one clean clone's `.ci/run` on a
 * 2-core machine, which vary by a third from run to run. Vitest orders files by the durations it
 * cached on an earlier run, or by file size when it has none, as on a clean checkout: the WebGPU
 * laws (the longest file, and one of the shortest) would then start last and run alone at the
 * end. Started first, two workers take the rest beside them (longest processing time first).
 */
const LONGEST = [
  "properties/laws.webgpu.test.ts", // 83
  "adapters/tfjs.test.ts", // 28
  "properties/variants.test.ts", // 32
  "properties/laws.test.ts", // 29
  "src/verify/pack.test.ts", // 38
  "src/verify/hostile.test.ts", // 42
  "src/verify/page/page.test.ts", // 12
  "properties/mutants.test.ts", // 26
  "src/verify/cli.test.ts", // 20
  "src/engine/webgpu/softmax.test.ts", // 9
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST.indexOf(relative(f.project.config.root, f.moduleId));
      return i < 0 ? LONGEST.length : i;
    };
    const sorted = await super.sort(files);
    return sorted
      .map((f, i) => [f, i] as const)
      .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
      .map(([f]) => f);
  }
}

const INCLUDE = [
  "properties/**/*.test.ts",
  "src/**/*.test.ts",
  "golden/**/*.test.ts",
  "bench/**/*.test.ts",
  "adapters/**/*.test.ts",
];

/**
 * Files that run in a process of their own: the longest, and those that create a WebGPU device.
 * On SwiftShader such a file moves its process onto one core (shareOneCoreWithSwiftShader), which
 * must not outlive it: in a shared worker the next file would inherit the pin. The rest (a few
 * seconds each) share a worker process (isolate: false): a fresh process per file cost each about 0.5 s
 * of CPU to start and import the engine again, 14 s of CPU over them (52 s instead of 66 s).
 */
const OWN_PROCESS = [
  ...LONGEST,
  "src/engine/webgpu/teardown.test.ts",
  "src/engine/webgpu/webgpu.test.ts",
  "src/engine/webgpu/norm.test.ts",
  "src/engine/webgpu/random.test.ts",
  "src/verify/wgsl-adapter.test.ts",
  // A timing test: in a fresh process, as the bench:check command it tests runs. In the shared
  // one the files before it have run this tree's kernels (warmed), not the copy's it compares
  // them with; there it once read its slowed kernel as unchanged.
  "bench/check.test.ts",
];

/** Files that need Vite itself: import.meta.glob (golden/load.browser.ts). */
const VITE = ["golden/load.browser.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    // Node imports the sources itself, through tsx's loader, instead of Vite's module runner.
    // (Not src/loader/, which the command uses: bench:check --against imports another tree's
    // sources in the test's own process, and those hooks compile this package's files only.)
    // The runner rewrites every imported binding into a property read on a module object; in
    // the kernels' per-element loops that cost cpu32's I5j 10-13 s instead of 6 s, and the whole
    // run 413 s of CPU instead of 370 s (laws.test.ts: 35 s instead of 25 s).
    // Without the runner and its loader (nodeLoader), vi.mock and import.meta.vitest do nothing:
    // a test that needs them goes in the "vite" project below.
    experimental: { viteModuleRunner: false, nodeLoader: false },
    execArgv: ["--import", "tsx"],
    // Vitest's default on 2 cores is one worker: files would run one after another while the
    // WebGPU laws wait on SwiftShader. Two workers: 75 s instead of 120 s on the CI machine.
    // One per core beyond that: the WebGPU laws (the longest file) keep a core of their own and
    // the rest spread over the others. (A third worker on the 2-core machine gained nothing:
    // 185 s against 181 s, within run-to-run spread.)
    maxWorkers: Math.max(2, availableParallelism()),
    sequence: { sequencer: LongestFirst },
    // On the CI machine (a VM) touching memory the process has not touched before costs ~30 µs
    // per 4 KiB page: 0.5 s for a 64 MiB tensor, more than computing on it. glibc hands large
    // blocks back to the kernel when they are freed, and the next tensor faults them in again;
    // kept in the heap, they are reused (laws.test.ts: 41-44 s instead of 53-75 s, back to back).
    // Read by glibc when a worker starts; other C libraries ignore it.
    env: { GLIBC_TUNABLES: "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967295" },
    projects: [
      { extends: true, test: { name: "own-process", include: OWN_PROCESS } },
      {
        extends: true,
        test: {
          name: "shared",
          include: INCLUDE,
          exclude: [...OWN_PROCESS, ...VITE],
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: "vite",
          include: VITE,
          experimental: { viteModuleRunner: true },
          execArgv: [],
        },
      },
    ],
  },
});

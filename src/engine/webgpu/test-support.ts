/** What the WebGPU test files share: the backend (or a loud note why there is none) and data. */
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import {
  type AdapterInfo,
  createWebGpuBackend,
  describeAdapter,
  type WebGpuBackend,
} from "./index.ts";

/**
 * The WebGPU backend, or undefined with a banner naming what is skipped; under
 * TENSORLAWS_REQUIRE_GPU=1 (CI) a missing adapter is an error instead.
 */
export async function webgpuForTests(what: string): Promise<WebGpuBackend | undefined> {
  let backend: WebGpuBackend | undefined;
  let why = "no WebGPU adapter was found";
  try {
    backend = await createWebGpuBackend();
  } catch (e) {
    why = `creating the WebGPU backend failed: ${e instanceof Error ? e.message : e}`;
  }
  if (backend) {
    shareOneCoreWithSwiftShader(backend.adapterInfo);
    return backend;
  }
  if (process.env.TENSORLAWS_REQUIRE_GPU === "1") {
    throw new Error(`TENSORLAWS_REQUIRE_GPU=1 but ${why}`);
  }
  const line = "=".repeat(78);
  console.warn(
    `${line}\nNO WEBGPU ADAPTER: ${what} is skipped (${why}).\nOn Linux without a GPU, ` +
      `apt-get install chromium libvulkan1 provides SwiftShader.\n${line}`,
  );
  return undefined;
}

// Tests import the generator from here, beside the backend they test.
export { lcgTensor } from "../examples.ts";

/**
 * Under vitest with several workers, moves this test process (every thread) onto one core when
 * its adapter is SwiftShader. SwiftShader's worker threads (marl) spin for a millisecond after
 * every task, looking for the next one; between a law's tiny kernel calls they spin nearly all
 * the time, on the core the other test worker needs. On one core the spinning thread yields to
 * this process's own thread instead. Measured on the 2-core CI machine: the WebGPU laws alone
 * took 137 s of CPU and 99 s wall unpinned, 104 s of both pinned; the whole `npm test` 244 s
 * wall (433 s CPU) unpinned, 224 s (387 s) pinned. A hardware adapter is left alone. Only for a
 * file that has a worker process of its own (vitest.config.ts): the pin outlives the file.
 */
export function shareOneCoreWithSwiftShader(info: AdapterInfo | undefined): void {
  const worker = Number(process.env.VITEST_POOL_ID);
  const cores = availableParallelism();
  if (!info || !/swiftshader/i.test(describeAdapter(info))) return;
  if (process.platform !== "linux" || !(worker >= 1) || cores < 2) return;
  try {
    const core = String((worker - 1) % cores);
    execFileSync("taskset", ["--all-tasks", "--cpu-list", "--pid", core, String(process.pid)], {
      stdio: "ignore",
    });
  } catch {
    // No taskset (util-linux): the run is only slower.
  }
}

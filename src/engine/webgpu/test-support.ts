/** What the WebGPU test files share: the backend (or a loud note why there is none) and data. */
import type { Tensor } from "../tensor.ts";
import { createWebGpuBackend, type WebGpuBackend } from "./index.ts";

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
  if (backend) return backend;
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

/** A deterministic float32 tensor, offset + scale·U(−½, ½), from a linear congruential generator. */
export function lcgTensor(shape: number[], scale: number, seed = 1, offset = 0): Tensor {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return offset + (s / 2147483648 - 0.5) * scale;
  });
  return { shape, data };
}

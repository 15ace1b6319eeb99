/**
 * The naive, obviously correct CPU reference backend: plain loops over row-major arrays,
 * every sum sequential in index order. `cpu` computes in float64 and is the reference every
 * law compares against; `cpu32` runs the same loops rounding to float32 after every
 * arithmetic step, which is what an honest float32 kernel achieves.
 *
 * `cpu.kernels.*` are raw kernels: they trust their caller (a null dimension can loop forever,
 * an out-of-range class index gives NaN). Compute through `ops(cpu)` or `call(cpu, …)`
 * (src/engine/call.ts), which validate every argument first.
 */
import type { Backend, OpName } from "../contract.ts";
import type { FloatDType } from "../tensor.ts";
import { activationKernels } from "./activations.ts";
import type { CpuKernels, Ctx } from "./common.ts";
import { dropoutKernels } from "./dropout.ts";
import { elementwiseKernels } from "./elementwise.ts";
import { initKernels } from "./init.ts";
import { lossKernels } from "./losses.ts";
import { matmulKernels } from "./matmul.ts";
import { normKernels } from "./norm.ts";
import { reductionKernels } from "./reductions.ts";
import { softmaxKernels } from "./softmax.ts";

/** Every reference kernel for a dtype and its rounding, typed as the synchronous functions they
 * are. Typed over every OpName, so an op added to the contract fails to compile here until it
 * has a reference kernel. */
export function cpuKernels(ctx: Ctx): CpuKernels<OpName> {
  return {
    ...elementwiseKernels(ctx),
    ...activationKernels(ctx),
    ...reductionKernels(ctx),
    ...matmulKernels(ctx),
    ...softmaxKernels(ctx),
    ...lossKernels(ctx),
    ...normKernels(ctx),
    ...dropoutKernels(ctx),
    ...initKernels(ctx),
  };
}

export function makeCpuBackend(
  name: string,
  dtype: FloatDType,
  round: (x: number) => number,
): Backend {
  const kernels = cpuKernels({ dtype, r: round });
  return { name, dtype, kernels, rng: "philox4x32-10" };
}

export const cpu: Backend = makeCpuBackend("cpu", "float64", (x) => x);

export const cpu32: Backend = makeCpuBackend("cpu32", "float32", Math.fround);

/**
 * Kernel bugs that break regularisation: a penalty whose gradient comes out scaled wrong, and
 * "noise" that is not centred.
 */
import type { Kernels } from "../../engine/contract.ts";
import { cpu32 } from "../../engine/cpu/index.ts";
import { INIT_STREAM, uniformAt } from "../../engine/random.ts";
import { type Mutant, mutant } from "./mutant.ts";

const k = cpu32.kernels as Required<Kernels>;

export const mutants: Mutant[] = [
  mutant(
    "sum-vjp-divides-by-n",
    "sum's backward copy-pasted from mean's: it divides the gradient by the reduced length",
    ["H1a", "G1b"],
    {
      sum_vjp: (inputs, attrs) => k.mean_vjp(inputs, attrs),
    },
  ),
  mutant(
    "kaiming-normal-irwin-hall-off-by-one",
    "normals from the Irwin–Hall sum of uniforms minus 6, with an off-by-one loop summing 13 uniforms instead of 12 (mean 0.5σ)",
    ["H5"],
    {
      kaiming_normal: (_inputs, { shape, gain, seed, mode }) => {
        const fan = mode === "fan_out" ? shape[0] : shape[1];
        const std = gain / Math.sqrt(fan);
        const n = shape[0] * shape[1];
        const data = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          let z = -6;
          for (let j = 0; j <= 12; j++) z += uniformAt(seed, i * 13 + j, INIT_STREAM);
          data[i] = Math.fround(std * z);
        }
        return { shape: [...shape], data };
      },
    },
  ),
];

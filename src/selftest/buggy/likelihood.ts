/**
 * Known-bad kernels for the likelihood laws (A): each is a float32 backend with one kernel
 * wrong the way real kernels have been wrong.
 */
import { cpu32 } from "../../engine/cpu/index.ts";
import { arrayFor, type Tensor } from "../../engine/tensor.ts";
import { type Mutant, mutant } from "./mutant.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds a float32 to bfloat16 (8 significant bits, round to nearest even), kept in float32. */
function bf16(x: number): number {
  f32[0] = x;
  if (!Number.isFinite(f32[0])) return f32[0];
  const bits = u32[0];
  u32[0] = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  return f32[0];
}

/** Rounds to `bits` significant bits (float16 keeps 11), keeping float32's exponent range. */
function roundSignificand(x: number, bits: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const scale = 2 ** (bits - 1 - Math.floor(Math.log2(Math.abs(x))));
  return Math.fround(Math.round(x * scale) / scale);
}

function map(x: Tensor, f: (v: number) => number): Tensor {
  const y = arrayFor("float32", x.data.length);
  for (let i = 0; i < y.length; i++) y[i] = f(x.data[i]);
  return { shape: [...x.shape], data: y };
}

export const mutants: Mutant[] = [
  mutant(
    "variance-always-bessel",
    "variance divides by n − 1 whatever `unbiased` says (torch.var's default leaking into the biased statistic), so it is no longer the Gaussian MLE",
    ["A3b"],
    {
      variance: (inputs, attrs) => cpu32.kernels.variance!(inputs, { ...attrs, unbiased: true }),
    },
  ),
  mutant(
    "sum-bf16-accumulator",
    "sum keeps its running total in bfloat16 (a mixed-precision reduction without a float32 accumulator): long sums of log-probabilities lose whole units",
    ["A1a", "A1b"],
    {
      sum: ({ x }, { axis }) => {
        const shape = x.shape;
        const n = shape[axis];
        const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
        const outer = x.data.length / (n * inner);
        const y = arrayFor("float32", outer * inner);
        for (let o = 0; o < outer; o++) {
          for (let j = 0; j < inner; j++) {
            let acc = 0;
            for (let k = 0; k < n; k++) acc = bf16(acc + x.data[(o * n + k) * inner + j]);
            y[o * inner + j] = acc;
          }
        }
        return { shape: shape.filter((_, d) => d !== axis), data: y };
      },
    },
  ),
  mutant(
    "exp-half-precision",
    "exp evaluated at half precision (a WebGL mediump shader): right range, but only 11 significant bits, a relative error of 2⁻¹² in every likelihood",
    ["A4a", "A6a"],
    {
      exp: ({ x }) => map(x, (v) => roundSignificand(Math.exp(v), 11)),
    },
  ),
];

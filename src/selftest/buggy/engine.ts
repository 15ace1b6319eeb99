/** Known-bad engine kernels: the tiling, reduction and edge-value bugs optimised kernels have. */
import type { Kernel } from "../../engine/contract.ts";
import { cpu32 } from "../../engine/cpu/index.ts";
import { arrayFor, sizeOf, type Tensor } from "../../engine/tensor.ts";
import { type Mutant, mutant } from "./mutant.ts";

/** A float32 matmul whose inner loop runs over tiles of `tile` and skips the remainder. */
function matmulDroppingKTail(tile: number): Kernel<"matmul"> {
  return ({ a, b }) => {
    const r = a.shape.length;
    const [m, k, n] = [a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]];
    const batches = a.data.length / (m * k);
    const shape = [...a.shape.slice(0, r - 1), n];
    const out = arrayFor("float32", sizeOf(shape));
    const kFull = Math.floor(k / tile) * tile || k; // the bug: a partial last tile is never loaded
    for (let bt = 0; bt < batches; bt++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < kFull; p++)
            acc = Math.fround(
              acc + a.data[bt * m * k + i * k + p] * b.data[bt * k * n + p * n + j],
            );
          out[bt * m * n + i * n + j] = acc;
        }
      }
    }
    return { shape, data: out };
  };
}

/** A variance over the last axis of 1-D or along `axis`, by the one-pass E[x²] − E[x]². */
const onePassVariance: Kernel<"variance"> = ({ x }, { axis, unbiased }) => {
  const n = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const shape = x.shape.filter((_, d) => d !== axis);
  const out = arrayFor("float32", sizeOf(shape));
  for (let o = 0; o < out.length; o++) {
    const base = Math.floor(o / inner) * n * inner + (o % inner);
    let s = 0;
    let s2 = 0;
    for (let j = 0; j < n; j++) {
      const v = x.data[base + j * inner];
      s = Math.fround(s + v);
      s2 = Math.fround(s2 + Math.fround(v * v));
    }
    const mean = Math.fround(s / n);
    const biased = Math.fround(Math.fround(s2 / n) - Math.fround(mean * mean));
    out[o] = unbiased ? Math.fround((biased * n) / (n - 1)) : biased;
  }
  return { shape, data: out };
};

/** `if (v > m) m = v` starting from −∞: a NaN never compares greater, so it vanishes. */
const maxDroppingNaN: Kernel<"max"> = ({ x }, { axis }) => {
  const n = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const shape = x.shape.filter((_, d) => d !== axis);
  const out = arrayFor("float32", sizeOf(shape));
  for (let o = 0; o < out.length; o++) {
    const base = Math.floor(o / inner) * n * inner + (o % inner);
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < n; j++) if (x.data[base + j * inner] > m) m = x.data[base + j * inner];
    out[o] = m;
  }
  return { shape, data: out };
};

/** A tree (pairwise) sum whose halving step forgets the odd element out. */
const sumDroppingOdd: Kernel<"sum"> = ({ x }, { axis }) => {
  const n = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const shape = x.shape.filter((_, d) => d !== axis);
  const out = arrayFor("float32", sizeOf(shape));
  for (let o = 0; o < out.length; o++) {
    const base = Math.floor(o / inner) * n * inner + (o % inner);
    let level = Array.from({ length: n }, (_, j) => x.data[base + j * inner]);
    while (level.length > 1) {
      const next: number[] = [];
      for (let j = 0; j + 1 < level.length; j += 2) next.push(Math.fround(level[j] + level[j + 1]));
      level = next;
    }
    out[o] = level[0];
  }
  return { shape, data: out };
};

/** ReLU "in place" to save memory: it returns its input buffer, zeroed where negative. */
const reluInPlace: Kernel<"relu"> = ({ x }) => {
  const data = x.data as Float32Array;
  for (let i = 0; i < data.length; i++) if (data[i] < 0) data[i] = 0;
  return { shape: [...x.shape], data: data.slice() };
};

/** log(x + 1e-12) to "avoid" log(0): finite where −∞ is the answer, wrong for tiny x. */
const logWithEpsilon: Kernel<"log"> = ({ x }) => {
  const out = arrayFor("float32", x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.log(x.data[i] + 1e-12);
  return { shape: [...x.shape], data: out };
};

/** exp by Schraudolph's bit trick: fast, and about 4 % off. */
const expBitTrick: Kernel<"exp"> = ({ x }) => {
  const out = arrayFor("float32", x.data.length);
  const bits = new Int32Array(1);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i];
    if (Number.isNaN(v) || v > 88.7) out[i] = v > 88.7 ? Number.POSITIVE_INFINITY : Number.NaN;
    else if (v < -87) out[i] = 0;
    else {
      bits[0] = Math.round(12102203 * v + 1065353216 - 366393);
      out[i] = f[0];
    }
  }
  return { shape: [...x.shape], data: out };
};

/** cpu32's loss and gradient, as a fused kernel would return them, with a twist applied. */
function fusedFromParts(
  twist: (dlogits: Float32Array, n: number, reduction: string) => void,
): Kernel<"cross_entropy_fused"> {
  return (inputs, attrs) => {
    const n = inputs.logits.shape[0];
    const shape = attrs.reduction === "none" ? [n] : [];
    const dy = { shape, data: arrayFor("float32", sizeOf(shape)).fill(1) };
    const loss = cpu32.kernels.cross_entropy!(inputs, attrs) as Tensor;
    const dlogits = cpu32.kernels.cross_entropy_vjp!({ ...inputs, dy }, attrs) as Tensor;
    twist(dlogits.data as Float32Array, n, attrs.reduction);
    return { loss, dlogits };
  };
}

/** Softmax cross-entropy and gradient straight from e^x, without the shift by the row max. */
const fusedUnshifted: Kernel<"cross_entropy_fused"> = ({ logits, target }, { reduction }) => {
  const [n, c] = logits.shape;
  const losses = new Float64Array(n);
  const dlogits = arrayFor("float32", n * c);
  const g = reduction === "mean" ? 1 / n : 1;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) s = Math.fround(s + Math.fround(Math.exp(logits.data[r * c + j])));
    for (let j = 0; j < c; j++) {
      const p = Math.fround(Math.fround(Math.exp(logits.data[r * c + j])) / s);
      const t =
        target.data instanceof Int32Array
          ? Number(target.data[r] === j)
          : (target.data[r * c + j] as number);
      dlogits[r * c + j] = Math.fround(g * (p - t));
      if (t !== 0) losses[r] -= t * Math.log(p);
    }
  }
  const total = losses.reduce((a, b) => a + b, 0);
  const loss =
    reduction === "none"
      ? { shape: [n], data: Float32Array.from(losses) }
      : { shape: [], data: Float32Array.of(reduction === "sum" ? total : total / n) };
  return { loss, dlogits: { shape: [n, c], data: dlogits } };
};

export const mutants: Mutant[] = [
  mutant(
    "ce-fused-mean-grad",
    "fused cross-entropy whose gradient forgets the mean's 1/N (right for batch size 1 only)",
    ["I3b", "I5e"],
    {
      cross_entropy_fused: fusedFromParts((d, n, reduction) => {
        if (reduction === "mean") for (let i = 0; i < d.length; i++) d[i] = Math.fround(d[i] * n);
      }),
    },
  ),
  mutant(
    "ce-fused-unshifted",
    "fused cross-entropy from e^x without subtracting the row max: Inf/NaN once logits pass ~88",
    ["I3b"],
    { cross_entropy_fused: fusedUnshifted },
  ),
  mutant(
    "matmul-k-tail",
    "tiled matmul (tile 4 along k) that never loads the partial last tile",
    ["I1a"],
    {
      matmul: matmulDroppingKTail(4),
    },
  ),
  mutant(
    "matmul-k-tail-16",
    "tiled matmul (tile 16 along k) that drops the remainder: right on powers of two only",
    ["I1a"],
    {
      matmul: matmulDroppingKTail(16),
    },
  ),
  mutant(
    "variance-one-pass",
    "variance as E[x²] − E[x]² in float32: catastrophic cancellation when |mean| ≫ std",
    ["I2b"],
    {
      variance: onePassVariance,
    },
  ),
  mutant("max-drops-nan", "max via `if (v > m)`: a NaN in the row silently disappears", ["I4b"], {
    max: maxDroppingNaN,
  }),
  mutant("sum-drops-odd", "pairwise sum that forgets the odd element at each halving", ["I2"], {
    sum: sumDroppingOdd,
  }),
  mutant("relu-in-place", "ReLU that overwrites its input to save memory", ["I4a"], {
    relu: reluInPlace,
  }),
  mutant("log-plus-epsilon", "log(x + 1e-12) to dodge log(0): finite instead of −∞", ["I4a"], {
    log: logWithEpsilon,
  }),
  mutant("exp-bit-trick", "Schraudolph's fast exp: a few percent off", ["I4a"], {
    exp: expBitTrick,
  }),
];

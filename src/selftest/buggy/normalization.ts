/**
 * Known-bad normalisation kernels: float32 batch-norm and layer-norm, each with one bug that
 * real implementations have had (the unbiased variance in the normaliser, ε outside the root,
 * a hard-coded ε, the running variance from the biased estimate, momentum read the other way,
 * batch statistics in eval mode, the wrong axis, the one-pass variance, a backward missing the
 * x̂ term). Everything else follows the contract, rounding to float32 after every step.
 */
import type {
  BatchNormAttrs,
  BatchNormInputs,
  BatchNormOutput,
  Kernel,
  NormGrads,
} from "../../engine/contract.ts";
import { arrayFor, type Tensor } from "../../engine/tensor.ts";
import { type Mutant, mutant } from "./mutant.ts";

const f = Math.fround;

interface Variant {
  /** How the normaliser's variance is formed. */
  variance?: "biased" | "unbiased" | "one-pass";
  /** x̂ = (x − μ)/(√σ² + ε) instead of (x − μ)/√(σ² + ε). */
  epsOutsideRoot?: boolean;
  /** Uses this ε whatever the attribute says. */
  fixedEps?: number;
  /** The running variance's update uses the biased batch variance. */
  runningVarBiased?: boolean;
  /** stat' = m·stat + (1 − m)·batch. */
  momentumSwapped?: boolean;
  /** Eval mode still normalises with the batch statistics. */
  evalUsesBatch?: boolean;
  /** Statistics per example over the features, instead of per feature over the batch. */
  perExample?: boolean;
}

/** Mean and variance of the strided run data[start + k·stride], k < n, in float32. */
function stats(
  data: ArrayLike<number>,
  start: number,
  n: number,
  stride: number,
  kind: Variant["variance"],
) {
  let sum = 0;
  let sq = 0;
  for (let k = 0; k < n; k++) {
    const v = data[start + k * stride];
    sum = f(sum + v);
    sq = f(sq + f(v * v));
  }
  const mean = f(sum / n);
  let ss = 0;
  for (let k = 0; k < n; k++) {
    const d = f(data[start + k * stride] - mean);
    ss = f(ss + f(d * d));
  }
  const onePass = f(f(sq / n) - f(mean * mean));
  const biased = kind === "one-pass" ? onePass : f(ss / n);
  return {
    mean,
    biased,
    unbiased: f(ss / (n - 1)),
    normaliser: kind === "unbiased" ? f(ss / (n - 1)) : biased,
  };
}

const denominator = (variance: number, eps: number, v: Variant) =>
  v.epsOutsideRoot ? f(f(Math.sqrt(variance)) + eps) : f(Math.sqrt(f(variance + eps)));

function batchNorm(v: Variant): Kernel<"batch_norm"> {
  return (
    { x, gamma, beta, runningMean, runningVar }: BatchNormInputs,
    attrs: BatchNormAttrs,
  ): BatchNormOutput => {
    const [n, c] = x.shape;
    const eps = f(v.fixedEps ?? attrs.eps);
    const m = f(attrs.momentum);
    const y = arrayFor("float32", n * c);
    const rm = arrayFor("float32", c);
    const rv = arrayFor("float32", c);
    rm.set(runningMean.data);
    rv.set(runningVar.data);
    if (!attrs.training && !v.evalUsesBatch) {
      for (let j = 0; j < c; j++) {
        const s = denominator(runningVar.data[j], eps, v);
        for (let i = 0; i < n; i++) {
          const xh = f(f(x.data[i * c + j] - runningMean.data[j]) / s);
          y[i * c + j] = f(f(gamma.data[j] * xh) + beta.data[j]);
        }
      }
    } else if (v.perExample) {
      for (let i = 0; i < n; i++) {
        const st = stats(x.data, i * c, c, 1, v.variance);
        const s = denominator(st.normaliser, eps, v);
        for (let j = 0; j < c; j++) {
          y[i * c + j] = f(f(gamma.data[j] * f(f(x.data[i * c + j] - st.mean) / s)) + beta.data[j]);
        }
      }
    } else {
      for (let j = 0; j < c; j++) {
        const st = stats(x.data, j, n, c, v.variance);
        const s = denominator(st.normaliser, eps, v);
        for (let i = 0; i < n; i++) {
          y[i * c + j] = f(f(gamma.data[j] * f(f(x.data[i * c + j] - st.mean) / s)) + beta.data[j]);
        }
        if (attrs.training) {
          const [keep, take] = v.momentumSwapped ? [m, f(1 - m)] : [f(1 - m), m];
          const batchVar = v.runningVarBiased ? st.biased : st.unbiased;
          rm[j] = f(f(keep * runningMean.data[j]) + f(take * st.mean));
          rv[j] = f(f(keep * runningVar.data[j]) + f(take * batchVar));
        }
      }
    }
    return {
      y: { shape: [n, c], data: y },
      runningMean: { shape: [c], data: rm },
      runningVar: { shape: [c], data: rv },
    };
  };
}

/** The variant's batch-norm, everything else (backward included) from the float32 reference. */
const bn = (v: Variant) => ({ batch_norm: batchNorm(v) });

/** Layer-norm that normalises each feature over the rows (the batch axis) instead of each row. */
const layerNormOverBatch: Kernel<"layer_norm"> = ({ x, gamma, beta }, { eps }): Tensor => {
  const d = x.shape[x.shape.length - 1];
  const rows = x.data.length / d;
  const y = arrayFor("float32", x.data.length);
  for (let j = 0; j < d; j++) {
    const { mean, biased } = stats(x.data, j, rows, d, "biased");
    const s = f(Math.sqrt(f(biased + f(eps))));
    for (let r = 0; r < rows; r++) {
      y[r * d + j] = f(f(gamma.data[j] * f(f(x.data[r * d + j] - mean) / s)) + beta.data[j]);
    }
  }
  return { shape: [...x.shape], data: y };
};

/** The batch-norm backward with one term changed, the rest as the contract says. */
function batchNormVjp(bug: "no-projection" | "dgamma-is-dbeta"): Kernel<"batch_norm_vjp"> {
  return ({ x, gamma, dy }, { eps }): NormGrads => {
    const [n, c] = x.shape;
    const dx = arrayFor("float32", n * c);
    const dgamma = arrayFor("float32", c);
    const dbeta = arrayFor("float32", c);
    const xhat = new Float32Array(n);
    for (let j = 0; j < c; j++) {
      const st = stats(x.data, j, n, c, "biased");
      const s = f(Math.sqrt(f(st.biased + f(eps))));
      let sumG = 0;
      let sumGX = 0;
      let dg = 0;
      let db = 0;
      for (let i = 0; i < n; i++) {
        xhat[i] = f(f(x.data[i * c + j] - st.mean) / s);
        const d = dy.data[i * c + j];
        const g = f(d * gamma.data[j]);
        sumG = f(sumG + g);
        sumGX = f(sumGX + f(g * xhat[i]));
        dg = f(dg + f(d * xhat[i]));
        db = f(db + d);
      }
      const meanG = f(sumG / n);
      const meanGX = bug === "no-projection" ? 0 : f(sumGX / n);
      for (let i = 0; i < n; i++) {
        const g = f(dy.data[i * c + j] * gamma.data[j]);
        dx[i * c + j] = f(f(f(g - meanG) - f(xhat[i] * meanGX)) / s);
      }
      dgamma[j] = bug === "dgamma-is-dbeta" ? db : dg;
      dbeta[j] = db;
    }
    return {
      dx: { shape: [n, c], data: dx },
      dgamma: { shape: [c], data: dgamma },
      dbeta: { shape: [c], data: dbeta },
    };
  };
}

export const mutants: Mutant[] = [
  mutant(
    "bn-unbiased-normaliser",
    "normalises with the unbiased batch variance (÷ n−1) instead of the biased one, so each feature's std is √((n−1)/n)",
    ["F1a", "F1b"],
    bn({ variance: "unbiased" }),
  ),
  mutant(
    "bn-eps-outside-root",
    "divides by √σ² + ε instead of √(σ² + ε): invisible when σ² ≫ ε, far off when σ² ≈ ε",
    ["F1a", "F1b", "F7"],
    bn({ epsOutsideRoot: true }),
  ),
  mutant(
    "bn-fixed-eps",
    "ignores the eps attribute and uses 1e-3 (TensorFlow's default) where PyTorch models ask for 1e-5",
    ["F1a", "F7"],
    bn({ fixedEps: 1e-3 }),
  ),
  mutant(
    "bn-one-pass-variance",
    "computes the variance as E[x²] − E[x]² in float32, which cancels catastrophically when the mean is large against the spread",
    ["F2"],
    bn({ variance: "one-pass" }),
  ),
  mutant(
    "bn-running-var-biased",
    "updates the running variance with the biased batch variance instead of the unbiased one",
    ["F4a"],
    bn({ runningVarBiased: true }),
  ),
  mutant(
    "bn-momentum-swapped",
    "reads momentum as the weight of the old statistic (Keras' convention) under PyTorch's contract: stat' = m·stat + (1−m)·batch",
    ["F4a", "F4c"],
    bn({ momentumSwapped: true }),
  ),
  mutant(
    "bn-eval-uses-batch-stats",
    "normalises with the batch statistics in eval mode too, as if the model were never switched to eval",
    ["F3b", "F5b"],
    bn({ evalUsesBatch: true }),
  ),
  mutant(
    "bn-per-example",
    "reduces over the feature axis (per example, like layer-norm) instead of down the batch",
    ["F1a", "F5a"],
    bn({ perExample: true }),
  ),
  mutant(
    "ln-over-batch",
    "layer-norm normalises each feature over the batch axis instead of each example over its features",
    ["F8a", "F8b", "F5c"],
    { layer_norm: layerNormOverBatch },
  ),
  mutant(
    "bn-vjp-no-projection",
    "the batch-norm backward drops the −x̂·mean(dy·x̂) term (it forgets that σ depends on x)",
    ["F9a", "F9b"],
    { batch_norm_vjp: batchNormVjp("no-projection") },
  ),
  mutant(
    "bn-vjp-dgamma-is-dbeta",
    "the batch-norm backward returns Σ dy for dγ (the x̂ factor is lost)",
    ["F3a", "I5g"],
    { batch_norm_vjp: batchNormVjp("dgamma-is-dbeta") },
  ),
];

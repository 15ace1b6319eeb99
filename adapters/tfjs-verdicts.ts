/**
 * What TensorFlow.js 4.22 breaks, law by law, measured with `tensorlaws verify` at the default
 * seed and 100 runs per property (tfjs-webgpu on Dawn over SwiftShader). Every law not listed
 * passes. adapters/tfjs.test.ts holds each kind to this table, so a tfjs upgrade or a changed
 * law that moves a verdict shows up as a failing test, not as a stale README.
 *
 * kind: "bug" where tfjs computes something the math and its own other backend do not
 * (a NaN, a lost NaN, a wrong gradient); "convention" where tfjs follows a documented rule of its
 * platform that the contract does not (WGSL lets a GPU flush subnormals to zero); "float32 limit"
 * where tfjs stays within what float32 arithmetic on its platform allows and our budget is
 * tighter than that.
 */
import type { TfjsKind } from "./tfjs.ts";

export type VerdictKind = "bug" | "convention" | "float32 limit";

export interface Verdict {
  lawId: string;
  verdict: "failed";
  kind: VerdictKind;
  why: string;
  /** What the failure message must show, so that a law failing for another reason is caught. */
  evidence: RegExp;
  /** "contract" where tfjs throws instead of answering (default: a violated law). */
  failure?: "violation" | "contract";
}

/** The size laws (I5, properties/sizes.laws.ts), measured with `npx tensorlaws verify
 * adapters/tfjs-<kind>.ts --laws 'I5*'`: the same tfjs bugs as above at sizes and shapes the
 * small laws do not reach, and two that only they reach. */
const sizeVerdicts = (kind: TfjsKind): Verdict[] => [
  {
    lawId: "I5b",
    verdict: "failed",
    kind: "bug",
    failure: "contract",
    why: "The gradient of a broadcast operand over an empty output: tf.sum over a zero-length axis keeps the 0 (shape [0, 3], not [1, 3]), so reshaping it to the operand's shape throws.",
    evidence: new RegExp(
      `add_vjp: kernel of backend 'tfjs-${kind}' broke the contract: threw Error: The new shape`,
    ),
  },
  { ...maxTies, lawId: "I5c" },
  {
    lawId: "I5e",
    verdict: "failed",
    kind: "bug",
    why: "tf.losses.softmaxCrossEntropy's gradient is softmax − labels, right only when each row of labels sums to 1; for soft targets that are weights (Σt ≠ 1) the gradient of −Σ t·log_softmax is Σt·softmax − t.",
    evidence: /cross_entropy_vjp vs float64 reference/,
  },
];

const maxTies: Verdict = {
  lawId: "G1b",
  verdict: "failed",
  kind: "bug",
  why: "tf.max's gradient is dy·[x = max]: each of k tied maxima receives the whole dy, so the gradient sums to k·dy and is not a subgradient of max (TensorFlow's own Python gradient divides dy among the ties, as the contract does).",
  evidence: /max_vjp vs float64 reference/,
};

const crossEntropyMask: Verdict = {
  lawId: "I4.cross_entropy",
  verdict: "failed",
  kind: "bug",
  why: "tf.losses.softmaxCrossEntropy takes one-hot labels and computes −Σ labels·(logits − logSumExp): where a logit gap overflows float32 (logits ±3.4e38) the log-probability of a non-target class is −∞, and its label 0 times −∞ makes the loss NaN instead of ln 2.",
  evidence: /case "huge logits ±3e38": cross_entropy vs exact.*actual NaN/s,
};

/** GELU and SiLU as tfjs-layers writes them, x·Φ(x) and x·σ(x): the product is −∞·0 at x = −∞. */
const zeroTimesInfinity = (op: "gelu" | "silu", form: string): Verdict => ({
  lawId: `I4.${op}`,
  verdict: "failed",
  kind: "bug",
  why: `tfjs-core has no ${op}; tfjs-layers' activation computes ${form}, which at x = −∞ is −∞·0 = NaN where the limit is 0.`,
  evidence: new RegExp(`case "infinities": ${op} vs exact.*actual NaN, expected 0`, "s"),
});

/** tf.logSumExp is max + log Σ exp(x − max) with no guard for an infinite max: ∞ − ∞ is NaN. */
const logSumExpInfinity =
  "tf.logSumExp computes max + log Σ exp(x − max) without handling an infinite max";

const cpu: readonly Verdict[] = [
  {
    lawId: "B15d",
    verdict: "failed",
    kind: "bug",
    why: `${logSumExpInfinity}: for a row of −∞, x − max is −∞ − (−∞) = NaN, so the result is NaN instead of −∞ (torch.logsumexp and scipy replace a non-finite max by 0).`,
    evidence: /logsumexp of a row of −∞ is NaN, not −∞/,
  },
  maxTies,
  {
    lawId: "I4b",
    verdict: "failed",
    kind: "bug",
    why: `${logSumExpInfinity}: a row holding +∞ gives ∞ − ∞ = NaN instead of +∞.`,
    evidence: /logsumexp vs float64 reference.*actual NaN, expected Infinity/s,
  },
  crossEntropyMask,
  zeroTimesInfinity("gelu", "x·½(1 + erf(x/√2))"),
  {
    lawId: "I4.logsumexp",
    verdict: "failed",
    kind: "bug",
    why: `${logSumExpInfinity}: the golden row of all −∞ gives NaN instead of −∞.`,
    evidence: /case "a row of all −∞": logsumexp vs exact.*actual NaN, expected -Infinity/s,
  },
  zeroTimesInfinity("silu", "x·σ(x)"),
];

// Two verdicts this table once held are now budgets: WGSL's exp (3 + 2|x| ULP) in the softmax
// family (B6b, B15c), and subnormals flushed to zero (C4b, C5a, C5c, I2) everywhere but I4c.

const webgpu: readonly Verdict[] = [
  {
    lawId: "B15a",
    verdict: "failed",
    kind: "bug",
    why: "tfjs-webgpu's fused softmax shader leaves NaN to WGSL, where arithmetic on NaN is indeterminate (its row maximum is WGSL's max, which may drop a NaN): on SwiftShader softmax([NaN, 0, 1]) is [NaN, 0, 0], so the other entries look like valid probabilities (tfjs-cpu gives a NaN row; tfjs-webgpu's own max reduction tests isnan).",
    evidence: /holds a NaN logit but softmax entry \d+ is/,
  },
  {
    lawId: "C2a",
    verdict: "failed",
    kind: "bug",
    why: "tfjs-webgpu computes tanh as sign(x)·(1 − e)/(1 + e) with e = exp(−2|x|) instead of WGSL's tanh: the subtraction cancels, so tanh(1e-30) is 0 and tanh(1e-6) is 1.3% off.",
    evidence: /tanh vs float64 reference/,
  },
  maxTies,
  {
    lawId: "G1g",
    verdict: "failed",
    kind: "bug",
    why: "The network's tanh layer inherits C2a's cancellation: tanh(−1e-6) is −1.0133e-6.",
    evidence: /tanh vs float64 reference/,
  },
  {
    lawId: "I4a",
    verdict: "failed",
    kind: "bug",
    why: "tfjs-webgpu's sigmoid is 1/(1 + exp(−x)) with no NaN guard, and WGSL leaves exp(NaN) indeterminate: sigmoid(NaN) is 0 on SwiftShader (tfjs-cpu gives NaN).",
    evidence: /sigmoid vs float64 reference.*expected NaN/s,
  },
  {
    lawId: "I4b",
    verdict: "failed",
    kind: "bug",
    why: "B15a's softmax shader: the finite entries of a row holding NaN come out 0 instead of NaN.",
    evidence: /softmax vs float64 reference.*expected NaN/s,
  },
  crossEntropyMask,
  zeroTimesInfinity("gelu", "x·½(1 + erf(x/√2))"),
  {
    lawId: "I4.log_softmax",
    verdict: "failed",
    kind: "bug",
    why: "log_softmax([+∞, 0, 1]) is [NaN, −∞, −∞]: the +∞ entry is NaN (∞ − ∞) but the others are −∞, neither the IEEE NaN row nor the one-hot limit; tfjs-webgpu leaves ∞ and NaN to WGSL, where such arithmetic is indeterminate.",
    evidence: /case "\+∞ entry": log_softmax vs exact/,
  },
  {
    lawId: "I4.sigmoid",
    verdict: "failed",
    kind: "bug",
    why: "I4a's sigmoid: the golden NaN input gives 0.",
    evidence: /case "NaN propagates": sigmoid vs exact.*expected NaN/s,
  },
  zeroTimesInfinity("silu", "x·σ(x)"),
  {
    lawId: "I4.softmax",
    verdict: "failed",
    kind: "bug",
    why: "B15a's softmax shader on a row holding +∞: softmax([+∞, 0, 1]) is [NaN, 0, 0], which sums to NaN yet shows two valid-looking probabilities; neither the IEEE NaN row nor the one-hot limit.",
    evidence: /case "\+∞ entry": softmax vs exact/,
  },
  {
    lawId: "I4.tanh",
    verdict: "failed",
    kind: "bug",
    why: "C2a's cancellation on the golden tiny magnitudes: tanh(1e-30) is 0.",
    evidence: /case "tiny magnitudes": tanh vs exact/,
  },
];

/** The expected failures of each kind; every other law passes. */
export const tfjsVerdicts: Record<TfjsKind, readonly Verdict[]> = {
  cpu: [
    ...cpu,
    {
      lawId: "I4a",
      verdict: "failed",
      kind: "bug",
      why: "The I4.gelu bug in the edge-value law: tfjs-layers' x·Φ(x) is −∞·0 = NaN at x = −∞, where GELU's limit is 0 (one rule for −∞ in I4a, the goldens and I5a).",
      evidence: /gelu vs float64 reference.*actual NaN, expected 0/s,
    },
    {
      lawId: "I5a",
      verdict: "failed",
      kind: "bug",
      why: "The I4.gelu bug where the size law meets it: tfjs-layers' x·Φ(x) is −∞·0 = NaN at x = −∞, placed at the tail of a tensor of 257.",
      evidence: /gelu vs float64 reference.*actual NaN, expected 0/s,
    },
    ...sizeVerdicts("cpu"),
  ],
  webgpu: [
    ...webgpu,
    {
      lawId: "I5a",
      verdict: "failed",
      kind: "bug",
      why: "The I4a sigmoid bug where the size law meets it: sigmoid(NaN) is 0 on SwiftShader, a NaN placed at the tail of a tensor of 257.",
      evidence: /sigmoid vs float64 reference.*expected NaN/s,
    },
    {
      lawId: "I5j",
      verdict: "failed",
      kind: "bug",
      why: "C2a's tanh cancellation met past the grid limit: near 0 tfjs-webgpu's tanh loses its relative accuracy (27 of the 6376 elements checked, all of small magnitude); the elements past 65535·256 are written.",
      evidence: /tanh on \d+ elements \(past the grid limit/,
    },
    ...sizeVerdicts("webgpu"),
  ],
};

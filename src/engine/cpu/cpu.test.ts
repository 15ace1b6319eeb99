import { describe, expect, it } from "vitest";
import { erf, erfc } from "../../harness/stats.ts";
import { call } from "../call.ts";
import type { Backend } from "../contract.ts";
import { dropMask } from "../random.ts";
import { broadcastIndex, indices, scalar, type Tensor, tensor } from "../tensor.ts";
import { cpu, cpu32 } from "./index.ts";

const t = (shape: number[], values: number[]): Tensor => tensor("float64", shape, values);
const values = (x: Tensor): number[] => Array.from(x.data);

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-12): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) expect(got[i]).toBeNaN();
    else
      expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i])));
  }
}

/** A deterministic spread of values in (−1.7, 1.7). */
function wiggle(n: number, phase = 0): number[] {
  return Array.from({ length: n }, (_, i) => 1.7 * Math.sin(1.3 * i + 0.4 + phase));
}

/** Checks a vjp against central differences of L(x) = Σ dy ⊙ f(x). */
async function checkGradient(
  forward: (x: Tensor) => Promise<Tensor>,
  x: Tensor,
  dy: Tensor,
  grad: Tensor,
  h = 1e-6,
): Promise<void> {
  const loss = async (v: Tensor) => {
    const y = await forward(v);
    let s = 0;
    for (let i = 0; i < y.data.length; i++) s += dy.data[i] * y.data[i];
    return s;
  };
  const numeric: number[] = [];
  for (let i = 0; i < x.data.length; i++) {
    const plus = t([...x.shape], values(x));
    const minus = t([...x.shape], values(x));
    plus.data[i] += h;
    minus.data[i] -= h;
    numeric.push(((await loss(plus)) - (await loss(minus))) / (2 * h));
  }
  expectClose(values(grad), numeric, 1e-6);
}

describe("elementwise", () => {
  it("broadcasts [2, 3] + [3] and sums the gradient back", async () => {
    const a = t([2, 3], [1, 2, 3, 4, 5, 6]);
    const b = t([3], [10, 20, 30]);
    expect(values(await call(cpu, "add", { a, b }, {}))).toEqual([11, 22, 33, 14, 25, 36]);
    const dy = t([2, 3], [1, 2, 3, 4, 5, 6]);
    const { da, db } = await call(cpu, "add_vjp", { a, b, dy }, {});
    expect(values(da)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(values(db)).toEqual([5, 7, 9]);
  });

  it("broadcastIndex reads, for every output element, the element whose coordinates it has (1 where the input's dim is 1)", () => {
    const cases: [number[], number[]][] = [
      [[], []],
      [[], [3, 2]],
      [[1], [4]],
      [[3], [2, 3]],
      [
        [2, 1],
        [2, 3],
      ],
      [
        [2, 1, 4],
        [3, 2, 5, 4],
      ],
      [
        [1, 5, 1],
        [2, 3, 5, 7],
      ],
      [
        [3, 1, 2],
        [3, 4, 2],
      ],
      [
        [2, 3],
        [0, 2, 3],
      ],
    ];
    for (const [from, out] of cases) {
      const want: number[] = [];
      const n = out.reduce((p, d) => p * d, 1);
      for (let flat = 0; flat < n; flat++) {
        // The definition: unravel, drop the leading dims `from` lacks, clamp its 1s, ravel.
        const coord = out.map(
          (_, d) => Math.floor(flat / out.slice(d + 1).reduce((p, e) => p * e, 1)) % out[d],
        );
        const c = coord.slice(out.length - from.length).map((x, d) => (from[d] === 1 ? 0 : x));
        want.push(c.reduce((acc, x, d) => acc * from[d] + x, 0));
      }
      expect(Array.from(broadcastIndex(from, out)), `${from} into ${out}`).toEqual(want);
    }
  });

  it("div's gradient matches finite differences in both arguments", async () => {
    const a = t([2, 1], [1.5, -0.7]);
    const b = t([3], [0.8, -1.9, 2.5]);
    const dy = t([2, 3], wiggle(6));
    const { da, db } = await call(cpu, "div_vjp", { a, b, dy }, {});
    await checkGradient((v) => call(cpu, "div", { a: v, b }, {}), a, dy, da);
    await checkGradient((v) => call(cpu, "div", { a, b: v }, {}), b, dy, db);
  });
});

describe("activations", () => {
  it("erf and erfc are accurate across the line", () => {
    expectClose(
      [erf(0.5), erf(-1.5), erf(3)],
      [0.5204998778130465, -0.9661051464753108, 0.9999779095030014],
      1e-15,
    );
    expectClose(
      [erfc(5), erfc(-1), erfc(10)],
      [1.5374597944280349e-12, 1.8427007929497148, 2.088487583762545e-45],
      1e-14,
    );
    expect(erfc(30)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
  });

  it("gelu is x·Φ(x) and relu's gradient at 0 is 0", async () => {
    const x = t([3], [1, 0, -40]);
    expectClose(values(await call(cpu, "gelu", { x }, {})), [
      0.8413447460685429,
      0,
      -40 * 0.5 * erfc(40 / Math.SQRT2),
    ]);
    const dy = t([3], [1, 1, 1]);
    expect(values(await call(cpu, "relu_vjp", { x, dy }, {}))).toEqual([1, 0, 0]);
    expect(values(await call(cpu, "leaky_relu_vjp", { x, dy }, { alpha: 0.1 }))).toEqual([
      1, 0.1, 0.1,
    ]);
  });

  it("sigmoid saturates without overflow", async () => {
    const x = t([4], [-1000, -30, 30, 1000]);
    const y = values(await call(cpu, "sigmoid", { x }, {}));
    expect(y[0]).toBe(0);
    expectClose(y, [0, Math.exp(-30) / (1 + Math.exp(-30)), 1 / (1 + Math.exp(-30)), 1]);
    // σ'(30) = σ(30)σ(−30) ≈ e^−30: no cancellation to 0.
    const g = values(await call(cpu, "sigmoid_vjp", { x, dy: t([4], [1, 1, 1, 1]) }, {}));
    expectClose([g[2]], [Math.exp(-30) / (1 + Math.exp(-30)) ** 2]);
  });

  it("smooth activations' gradients match finite differences", async () => {
    const x = t([8], wiggle(8));
    const dy = t([8], wiggle(8, 1));
    for (const op of ["sigmoid", "tanh", "gelu", "silu", "exp"] as const) {
      const grad = await call(cpu, `${op}_vjp`, { x, dy }, {});
      await checkGradient((v) => call(cpu, op, { x: v }, {}), x, dy, grad);
    }
  });
});

describe("reductions", () => {
  it("variance is two-pass, biased or unbiased", async () => {
    const x = t([2, 4], [1, 2, 3, 4, 1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4]);
    expect(values(await call(cpu, "variance", { x }, { axis: 1, unbiased: false }))).toEqual([
      1.25, 1.25,
    ]);
    expectClose(values(await call(cpu, "variance", { x }, { axis: 1, unbiased: true })), [
      5 / 3,
      5 / 3,
    ]);
    const dy = t([4], wiggle(4));
    const y = t([2, 4], wiggle(8));
    const grad = await call(cpu, "variance_vjp", { x: y, dy }, { axis: 0, unbiased: true });
    await checkGradient(
      (v) => call(cpu, "variance", { x: v }, { axis: 0, unbiased: true }),
      y,
      dy,
      grad,
    );
  });

  it("sum and mean drop the axis", async () => {
    const x = t([2, 3], [1, 2, 3, 4, 5, 6]);
    const s = await call(cpu, "sum", { x }, { axis: 0 });
    expect(s.shape).toEqual([3]);
    expect(values(s)).toEqual([5, 7, 9]);
    expect(values(await call(cpu, "mean", { x }, { axis: 1 }))).toEqual([2, 5]);
  });

  it("max propagates NaN and splits the gradient among ties", async () => {
    const x = t([2, 3], [1, Number.NaN, 0, 5, 2, 5]);
    const y = values(await call(cpu, "max", { x }, { axis: 1 }));
    expect(y[0]).toBeNaN();
    expect(y[1]).toBe(5);
    const g = values(await call(cpu, "max_vjp", { x, dy: t([2], [1, 4]) }, { axis: 1 }));
    expect(g.slice(3)).toEqual([2, 0, 2]);
  });

  it("cpu32 sums sequentially in float32", async () => {
    const x = tensor("float32", [5], [1, 2 ** -24, 2 ** -24, 2 ** -24, 2 ** -24]);
    expect(values(await call(cpu32, "sum", { x }, { axis: 0 }))).toEqual([1]);
    const x64 = t([5], [1, 2 ** -24, 2 ** -24, 2 ** -24, 2 ** -24]);
    expect(values(await call(cpu, "sum", { x: x64 }, { axis: 0 }))).toEqual([1 + 2 ** -22]);
  });
});

describe("matmul", () => {
  it("multiplies batched matrices and its gradient matches finite differences", async () => {
    const a = t([1, 2, 2], [1, 2, 3, 4]);
    const b = t([1, 2, 2], [5, 6, 7, 8]);
    expect(values(await call(cpu, "matmul", { a, b }, {}))).toEqual([19, 22, 43, 50]);
    const a2 = t([2, 2, 3], wiggle(12));
    const b2 = t([2, 3, 4], wiggle(24, 2));
    const dy = t([2, 2, 4], wiggle(16, 3));
    const { da, db } = await call(cpu, "matmul_vjp", { a: a2, b: b2, dy }, {});
    await checkGradient((v) => call(cpu, "matmul", { a: v, b: b2 }, {}), a2, dy, da);
    await checkGradient((v) => call(cpu, "matmul", { a: a2, b: v }, {}), b2, dy, db);
  });
});

describe("softmax", () => {
  it("softmax([1, 2, 3]) and its special rows", async () => {
    const y = await call(cpu, "softmax", { x: t([1, 3], [1, 2, 3]) }, {});
    expectClose(values(y), [0.09003057317038046, 0.24472847105479764, 0.6652409557748219]);
    const big = await call(cpu, "softmax", { x: t([3], [1000, 1000, -Infinity]) }, {});
    expect(values(big)).toEqual([0.5, 0.5, 0]);
    const special = t([3, 2], [-Infinity, -Infinity, Infinity, 1, Number.NaN, 1]);
    expect(values(await call(cpu, "softmax", { x: special }, {})).every(Number.isNaN)).toBe(true);
    const lse = values(await call(cpu, "logsumexp", { x: special }, {}));
    expect(lse[0]).toBe(-Infinity);
    expect(lse[1]).toBe(Infinity);
    expect(lse[2]).toBeNaN();
  });

  it("gradients match finite differences", async () => {
    const x = t([2, 4], wiggle(8));
    const dy = t([2, 4], wiggle(8, 1));
    for (const op of ["softmax", "log_softmax"] as const) {
      const grad = await call(cpu, `${op}_vjp`, { x, dy }, {});
      await checkGradient((v) => call(cpu, op, { x: v }, {}), x, dy, grad);
    }
    const dyRow = t([2], [0.3, -1.2]);
    const grad = await call(cpu, "logsumexp_vjp", { x, dy: dyRow }, {});
    await checkGradient((v) => call(cpu, "logsumexp", { x: v }, {}), x, dyRow, grad);
  });
});

describe("losses", () => {
  it("cross-entropy of equal logits is ln C, for indices and soft targets alike", async () => {
    const logits = t([2, 4], [3, 3, 3, 3, -1, -1, -1, -1]);
    const target = indices([2], [0, 3]);
    const ce = await call(cpu, "cross_entropy", { logits, target }, { reduction: "mean" });
    expect(ce.shape).toEqual([]);
    expectClose(values(ce), [Math.log(4)]);
    const soft = t([2, 4], [0.25, 0.25, 0.25, 0.25, 0, 0.5, 0.5, 0]);
    expectClose(
      values(await call(cpu, "cross_entropy", { logits, target: soft }, { reduction: "none" })),
      [Math.log(4), Math.log(4)],
    );
  });

  it("cross-entropy, nll and mse gradients match finite differences", async () => {
    const logits = t([3, 4], wiggle(12));
    const target = indices([3], [2, 0, 3]);
    const soft = t([3, 4], [0.1, 0.2, 0.3, 0.4, 1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25]);
    for (const reduction of ["none", "sum", "mean"] as const) {
      const dy = reduction === "none" ? t([3], [0.5, -1, 2]) : scalar("float64", 0.7);
      for (const tg of [target, soft]) {
        const grad = await call(
          cpu,
          "cross_entropy_vjp",
          { logits, target: tg, dy },
          { reduction },
        );
        await checkGradient(
          (v) => call(cpu, "cross_entropy", { logits: v, target: tg }, { reduction }),
          logits,
          dy,
          grad,
        );
      }
      const nllGrad = await call(cpu, "nll_vjp", { logp: logits, target, dy }, { reduction });
      await checkGradient(
        (v) => call(cpu, "nll", { logp: v, target }, { reduction }),
        logits,
        dy,
        nllGrad,
      );
    }
    const pred = t([2, 3], wiggle(6));
    const goal = t([2, 3], wiggle(6, 2));
    const mse = await call(cpu, "mse", { pred, target: goal }, { reduction: "mean" });
    const sq = values(pred).map((p, i) => (p - goal.data[i]) ** 2);
    expectClose(values(mse), [sq.reduce((s, v) => s + v, 0) / 6]);
    const dy = scalar("float64", 1.3);
    const grad = await call(cpu, "mse_vjp", { pred, target: goal, dy }, { reduction: "mean" });
    await checkGradient(
      (v) => call(cpu, "mse", { pred: v, target: goal }, { reduction: "mean" }),
      pred,
      dy,
      grad,
    );
  });
});

describe("normalisation", () => {
  const x = t([4, 2], [1, 10, 2, 20, 3, 30, 6, 0]);
  const gamma = t([2], [1.5, -0.5]);
  const beta = t([2], [0.1, 0.2]);

  it("batch-norm updates the running stats with the unbiased variance", async () => {
    const runningMean = t([2], [0, 1]);
    const runningVar = t([2], [1, 2]);
    const attrs = { training: true, eps: 1e-5, momentum: 0.1 };
    const out = await call(cpu, "batch_norm", { x, gamma, beta, runningMean, runningVar }, attrs);
    // Feature 0: μ = 3, Σ(x − μ)² = 14; feature 1: μ = 15, Σ(x − μ)² = 500.
    expectClose(values(out.runningMean), [0.9 * 0 + 0.1 * 3, 0.9 * 1 + 0.1 * 15]);
    expectClose(values(out.runningVar), [0.9 * 1 + (0.1 * 14) / 3, 0.9 * 2 + (0.1 * 500) / 3]);
    expectClose([out.y.data[0]], [1.5 * ((1 - 3) / Math.sqrt(14 / 4 + 1e-5)) + 0.1]);

    const evalOut = await call(
      cpu,
      "batch_norm",
      { x, gamma, beta, runningMean, runningVar },
      { ...attrs, training: false },
    );
    expect(values(evalOut.runningMean)).toEqual([0, 1]);
    expect(evalOut.runningMean).not.toBe(runningMean);
    expectClose([evalOut.y.data[1]], [-0.5 * ((10 - 1) / Math.sqrt(2 + 1e-5)) + 0.2]);
  });

  it("batch-norm and layer-norm gradients match finite differences", async () => {
    const dy = t([4, 2], wiggle(8, 1));
    const stats = { runningMean: t([2], [0, 0]), runningVar: t([2], [1, 1]) };
    const attrs = { training: true, eps: 1e-5, momentum: 0.1 };
    const bn = await call(cpu, "batch_norm_vjp", { x, gamma, dy }, { eps: 1e-5 });
    await checkGradient(
      async (v) => (await call(cpu, "batch_norm", { x: v, gamma, beta, ...stats }, attrs)).y,
      x,
      dy,
      bn.dx,
    );
    await checkGradient(
      async (g) => (await call(cpu, "batch_norm", { x, gamma: g, beta, ...stats }, attrs)).y,
      gamma,
      dy,
      bn.dgamma,
    );
    expectClose(values(bn.dbeta), [
      dy.data[0] + dy.data[2] + dy.data[4] + dy.data[6],
      dy.data[1] + dy.data[3] + dy.data[5] + dy.data[7],
    ]);

    const ln = await call(cpu, "layer_norm_vjp", { x, gamma, beta, dy }, { eps: 1e-5 });
    await checkGradient(
      (v) => call(cpu, "layer_norm", { x: v, gamma, beta }, { eps: 1e-5 }),
      x,
      dy,
      ln.dx,
    );
    await checkGradient(
      (g) => call(cpu, "layer_norm", { x, gamma: g, beta }, { eps: 1e-5 }),
      gamma,
      dy,
      ln.dgamma,
    );
    await checkGradient(
      (b) => call(cpu, "layer_norm", { x, gamma, beta: b }, { eps: 1e-5 }),
      beta,
      dy,
      ln.dbeta,
    );
  });
});

describe("randomness", () => {
  it("dropout with p = 0 or in eval mode is the identity; otherwise it follows the Philox mask", async () => {
    const x = t([1000], wiggle(1000));
    expect(values(await call(cpu, "dropout", { x }, { p: 0, seed: 7, training: true }))).toEqual(
      values(x),
    );
    expect(values(await call(cpu, "dropout", { x }, { p: 0.5, seed: 7, training: false }))).toEqual(
      values(x),
    );
    const y = await call(cpu, "dropout", { x }, { p: 0.25, seed: 7, training: true });
    const dx = await call(cpu, "dropout_vjp", { x, dy: x }, { p: 0.25, seed: 7, training: true });
    const keep = dropMask(7, 0.25, 1000);
    expect(values(y)).toEqual(values(x).map((v, i) => (keep[i] ? v * (1 / 0.75) : 0)));
    expect(values(dx)).toEqual(values(y));
  });

  it("initialisers stay in their bounds and have about the right spread", async () => {
    for (const b of [cpu, cpu32] as Backend[]) {
      const shape = [200, 300] as const;
      const bound = Math.sqrt(6 / 500);
      const w = values(await call(b, "xavier_uniform", {}, { shape, gain: 1, seed: 3 }));
      expect(w.every((v) => Math.abs(v) <= Math.fround(bound))).toBe(true);
      const k = values(
        await call(b, "kaiming_normal", {}, { shape, gain: Math.SQRT2, seed: 3, mode: "fan_in" }),
      );
      const variance = k.reduce((s, v) => s + v * v, 0) / k.length;
      expect(Math.abs(variance - 2 / 300) / (2 / 300)).toBeLessThan(0.03);
    }
  });
});

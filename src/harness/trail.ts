/**
 * Running error bounds for compositions of backend ops. A law that chains several kernels
 * (log, then sum; exp, normalise, log, pick) compares the result with the exact value of the
 * whole expression: each step adds the budget a correct kernel of the backend's dtype gets on
 * the values it actually received, and carries its inputs' error forward through the step's
 * condition number.
 */
import type { Attrs, Inputs, OpName, Reduction, Targets } from "../engine/contract.ts";
import {
  broadcastIndex,
  broadcastShapes,
  type IndexTensor,
  type Tensor,
} from "../engine/tensor.ts";
import type { LawContext } from "./law.ts";

/** A backend result and a bound on its distance from the exact value of the same expression. */
export interface Tracked {
  t: Tensor;
  err: Float64Array;
}

/** Neumaier's compensated sum: the host's "exact" side must be more accurate than float64's
 * naive loop, or a float64 backend would be compared against a noisier reference than itself. */
export function fsum(xs: ArrayLike<number>): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const t = s + x;
    c += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
    s = t;
  }
  return s + c;
}

/** log Σ e^x in float64, shifted by the max (−∞ for an all −∞ row). */
export function hostLse(xs: ArrayLike<number>): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]);
  if (!Number.isFinite(m)) return m;
  const e: number[] = [];
  for (let i = 0; i < xs.length; i++) e.push(Math.exp(xs[i] - m));
  return m + Math.log(fsum(e));
}

/** Slack for the host's own float64 rounding (a few ULPs of the magnitudes involved): negligible
 * next to any float32 budget, and what keeps a float64 backend from being judged by noise. */
export const HOST = 2 ** -46;

/** Along `axis` a tensor is [outer, n, inner]. */
function layout(shape: readonly number[], axis: number) {
  const prod = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
  return { outer: prod(shape.slice(0, axis)), n: shape[axis], inner: prod(shape.slice(axis + 1)) };
}

/**
 * Runs backend ops and keeps, per element, a bound on |computed − exact| for the whole
 * expression so far: local budget of each op (from `ctx.budget`) plus the propagated input
 * error (first-order bounds made rigorous where cheap: |ab − âb̂| ≤ |b̂|eₐ + |â|e_b + eₐe_b…).
 */
export class Trail {
  constructor(readonly ctx: LawContext) {}

  /** Values the law hands to the backend; the exact side reads them back from `t.data`. */
  input(shape: readonly number[], values: ArrayLike<number>): Tracked {
    const t = this.ctx.t(shape, values);
    return { t, err: new Float64Array(t.data.length) };
  }

  /** A mathematical constant (ln 2π, a quadrature weight): its rounding to the dtype is carried. */
  constant(shape: readonly number[], values: ArrayLike<number> | number): Tracked {
    const t = this.ctx.t(shape, values);
    const err = new Float64Array(t.data.length);
    for (let i = 0; i < err.length; i++) {
      err[i] = Math.abs(t.data[i] - (typeof values === "number" ? values : values[i]));
    }
    return { t, err };
  }

  reshape(x: Tracked, shape: readonly number[]): Tracked {
    return { t: { shape: [...shape], data: x.t.data }, err: x.err };
  }

  /** Rows [from, to) along the first axis (a copy: no rounding). */
  rows(x: Tracked, from: number, to: number): Tracked {
    const w = x.t.data.length / x.t.shape[0];
    return {
      t: { shape: [to - from, ...x.t.shape.slice(1)], data: x.t.data.slice(from * w, to * w) },
      err: x.err.slice(from * w, to * w),
    };
  }

  concatRows(a: Tracked, b: Tracked): Tracked {
    const data = this.ctx.t([a.t.data.length + b.t.data.length], 0).data;
    data.set(a.t.data);
    data.set(b.t.data, a.t.data.length);
    const err = new Float64Array(data.length);
    err.set(a.err);
    err.set(b.err, a.err.length);
    return { t: { shape: [a.t.shape[0] + b.t.shape[0], ...a.t.shape.slice(1)], data }, err };
  }

  /** One backend call and the budget a correct kernel gets on exactly these inputs. */
  private async step<O extends OpName>(op: O, inputs: Inputs<O>, attrs: Attrs<O>) {
    const y = (await this.ctx.call(op, inputs, attrs)) as unknown as Tensor;
    const { fields } = await this.ctx.budget(op, inputs, attrs);
    return { y, tol: fields.y.tol };
  }

  private done(y: Tensor, tol: Float64Array, prop: (i: number) => number): Tracked {
    const err = new Float64Array(y.data.length);
    for (let i = 0; i < err.length; i++) {
      err[i] = tol[i] + prop(i);
    }
    return { t: y, err };
  }

  async neg(x: Tracked): Promise<Tracked> {
    const { y, tol } = await this.step("neg", { x: x.t }, {});
    return this.done(y, tol, (i) => x.err[i]);
  }

  /** |e^x − e^x̂| ≤ e^x̂·(e^e − 1). */
  async exp(x: Tracked): Promise<Tracked> {
    const { y, tol } = await this.step("exp", { x: x.t }, {});
    return this.done(y, tol, (i) =>
      x.err[i] === 0 ? 0 : (Math.abs(y.data[i]) + tol[i]) * Math.expm1(x.err[i]),
    );
  }

  /** |ln x − ln x̂| ≤ −ln(1 − e/x̂) while e < x̂, unbounded otherwise. */
  async log(x: Tracked): Promise<Tracked> {
    const { y, tol } = await this.step("log", { x: x.t }, {});
    return this.done(y, tol, (i) => {
      const e = x.err[i];
      if (e === 0) return 0;
      const v = x.t.data[i];
      return e < v ? -Math.log1p(-e / v) : Number.POSITIVE_INFINITY;
    });
  }

  async binary(op: "add" | "sub" | "mul" | "div", a: Tracked, b: Tracked): Promise<Tracked> {
    const { y, tol } = await this.step(op, { a: a.t, b: b.t }, {});
    const shape = broadcastShapes(a.t.shape, b.t.shape) ?? [];
    const ia = broadcastIndex(a.t.shape, shape);
    const ib = broadcastIndex(b.t.shape, shape);
    return this.done(y, tol, (i) => {
      const [ea, eb] = [a.err[ia[i]], b.err[ib[i]]];
      if (ea === 0 && eb === 0) return 0;
      const [va, vb] = [Math.abs(a.t.data[ia[i]]), Math.abs(b.t.data[ib[i]])];
      if (op === "add" || op === "sub") return ea + eb;
      if (op === "mul") return vb * ea + va * eb + ea * eb;
      return eb < vb ? (ea * vb + va * eb) / ((vb - eb) * vb) : Number.POSITIVE_INFINITY;
    });
  }

  add(a: Tracked, b: Tracked) {
    return this.binary("add", a, b);
  }
  sub(a: Tracked, b: Tracked) {
    return this.binary("sub", a, b);
  }
  mul(a: Tracked, b: Tracked) {
    return this.binary("mul", a, b);
  }
  div(a: Tracked, b: Tracked) {
    return this.binary("div", a, b);
  }

  /** Sum or mean along `axis`: the input errors add up (and are averaged for the mean). */
  async reduce(op: "sum" | "mean", x: Tracked, axis: number): Promise<Tracked> {
    const { y, tol } = await this.step(op, { x: x.t }, { axis });
    const { n, inner } = layout(x.t.shape, axis);
    return this.done(y, tol, (o) => {
      const start = Math.floor(o / inner) * n * inner + (o % inner);
      let e = 0;
      for (let k = 0; k < n; k++) e += x.err[start + k * inner];
      return op === "mean" ? e / n : e;
    });
  }

  /** Max input error of each last-axis row: lse and log_softmax are 1-Lipschitz in it. */
  private rowMaxErr(x: Tracked): Float64Array {
    const c = x.t.shape[x.t.shape.length - 1];
    const out = new Float64Array(x.t.data.length / c);
    for (let r = 0; r < out.length; r++) {
      for (let j = 0; j < c; j++) out[r] = Math.max(out[r], x.err[r * c + j]);
    }
    return out;
  }

  async logsumexp(x: Tracked): Promise<Tracked> {
    const { y, tol } = await this.step("logsumexp", { x: x.t }, {});
    const e = this.rowMaxErr(x);
    return this.done(y, tol, (r) => e[r]);
  }

  /** x − lse(x): the entry's own error plus the row's largest. */
  async logSoftmax(x: Tracked): Promise<Tracked> {
    const { y, tol } = await this.step("log_softmax", { x: x.t }, {});
    const c = x.t.shape[x.t.shape.length - 1];
    const e = this.rowMaxErr(x);
    return this.done(y, tol, (i) => x.err[i] + e[Math.floor(i / c)]);
  }

  /** Logits off by at most E move each probability by a factor within e^(±2E). */
  async softmax(x: Tracked): Promise<Tracked> {
    const { y, tol } = await this.step("softmax", { x: x.t }, {});
    const c = x.t.shape[x.t.shape.length - 1];
    const e = this.rowMaxErr(x);
    return this.done(y, tol, (i) => {
      const E = e[Math.floor(i / c)];
      return E === 0 ? 0 : (y.data[i] + tol[i]) * Math.expm1(2 * E);
    });
  }

  /** Plain [m, k] × [k, n]: Σₚ |â|e_b + eₐ|b̂| + eₐe_b. */
  async matmul(a: Tracked, b: Tracked): Promise<Tracked> {
    const { y, tol } = await this.step("matmul", { a: a.t, b: b.t }, {});
    const k = a.t.shape[1];
    const n = b.t.shape[1];
    return this.done(y, tol, (o) => {
      const [i, j] = [Math.floor(o / n), o % n];
      let e = 0;
      for (let p = 0; p < k; p++) {
        const [ea, eb] = [a.err[i * k + p], b.err[p * n + j]];
        e += Math.abs(a.t.data[i * k + p]) * eb + ea * Math.abs(b.t.data[p * n + j]) + ea * eb;
      }
      return e;
    });
  }

  /** −logp[n, target[n]], reduced: only the picked entries' errors matter. */
  async nll(logp: Tracked, target: IndexTensor, reduction: Reduction): Promise<Tracked> {
    const { y, tol } = await this.step("nll", { logp: logp.t, target }, { reduction });
    const c = logp.t.shape[1];
    const picked = Array.from(target.data, (t, r) => logp.err[r * c + t]);
    if (reduction === "none") return this.done(y, tol, (r) => picked[r]);
    const total = picked.reduce((a, b) => a + b, 0);
    return this.done(y, tol, () => (reduction === "mean" ? total / picked.length : total));
  }

  /** Cross-entropy of tracked logits: lse moves by at most the row's largest logit error, each
   * picked logit by its own (weighted by the target mass for soft targets). */
  async crossEntropy(logits: Tracked, target: Targets, reduction: Reduction): Promise<Tracked> {
    const { y, tol } = await this.step(
      "cross_entropy",
      { logits: logits.t, target },
      { reduction },
    );
    const [n, c] = logits.t.shape;
    const e = this.rowMaxErr(logits);
    const per = Array.from({ length: n }, (_, r) => {
      if (target.data instanceof Int32Array) return logits.err[r * c + target.data[r]] + e[r];
      let s = 0;
      for (let j = 0; j < c; j++) s += target.data[r * c + j] * (logits.err[r * c + j] + e[r]);
      return s;
    });
    if (reduction === "none") return this.done(y, tol, (r) => per[r]);
    const total = per.reduce((a, b) => a + b, 0);
    return this.done(y, tol, () => (reduction === "mean" ? total / n : total));
  }

  /** (p̂ − t̂)² is off by at most 2|p̂ − t̂|·e + e² with e = e_p + e_t. */
  async mse(pred: Tracked, target: Tracked, reduction: Reduction): Promise<Tracked> {
    const { y, tol } = await this.step("mse", { pred: pred.t, target: target.t }, { reduction });
    const sq = Array.from(pred.t.data, (p, i) => {
      const e = pred.err[i] + target.err[i];
      return 2 * Math.abs(p - target.t.data[i]) * e + e * e;
    });
    if (reduction === "none") return this.done(y, tol, (i) => sq[i]);
    const total = sq.reduce((a, b) => a + b, 0);
    return this.done(y, tol, () => (reduction === "mean" ? total / sq.length : total));
  }

  /**
   * The backend's value is within its running bound of the exact value (plus the host's own
   * float64 rounding on `magnitude`, the size of the terms the exact side summed).
   */
  expectExact(
    label: string,
    x: Tracked,
    exact: ArrayLike<number>,
    magnitude: ArrayLike<number> | number,
  ): void {
    // A budget taken on an intermediate ±∞ is itself infinite; a bound must never excuse a
    // non-finite result where the exact value is finite.
    for (let i = 0; i < exact.length; i++) {
      if (Number.isFinite(exact[i]) && !Number.isFinite(x.t.data[i])) {
        this.ctx.fail(
          `${label}: entry ${i} is ${x.t.data[i]}, the exact value ${exact[i]} is finite`,
        );
      }
    }
    const tol = Float64Array.from(
      x.err,
      (e, i) => e + HOST * (typeof magnitude === "number" ? magnitude : magnitude[i]),
    );
    this.ctx.expectClose(
      label,
      x.t,
      exact,
      tol,
      "running bound: Σ per-op budgets + propagated input error",
    );
  }
}

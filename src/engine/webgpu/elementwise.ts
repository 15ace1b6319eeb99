/**
 * Elementwise kernels: neg, exp, log, the activations, and the broadcasting binary ops add, sub,
 * mul, div, with their gradients. One thread per element (per four, as vec4, when the size
 * allows); a broadcast operand is read through strides of 0; the gradient of a broadcast operand
 * is reduced back to its shape on the GPU (reductions.ts), in the same round trip.
 */
import { broadcastShapes, sizeOf, stridesOf, type Tensor } from "../tensor.ts";
import { reduceToShape } from "./reductions.ts";
import {
  countOf,
  FLAT_INDEX,
  f32,
  type GpuKernels,
  type GpuRuntime,
  MAIN_1D,
  type Operand,
} from "./runtime.ts";
import { WGSL_MATH } from "./wgsl-math.ts";

/** x > 0 decided on the bits, so a positive subnormal counts even where the GPU flushes them. */
const POSITIVE =
  "fn positive(x: f32) -> bool { let b = bitcast<u32>(x); return b != 0u && (b >> 31u) == 0u && !is_nan(x); }";
const NEG_INF = "(bitcast<u32>(x) == 0xff800000u)";
const POS_INF = "(bitcast<u32>(x) == 0x7f800000u)";

/** f(x) per op, in WGSL over `x` (and `p.alpha`). */
const UNARY: Record<string, string> = {
  neg: "return m_neg(x);",
  exp: "return m_exp(x);",
  log: "return m_log(x);",
  // NaN passes through (a comparison alone would turn it into 0); relu(−0) is +0.
  relu: "return select(0.0, x, positive(x) || is_nan(x));",
  leaky_relu: "return select(m_mul(p.alpha, x), x, positive(x));",
  sigmoid: "return m_sigmoid(x);",
  tanh: "return m_tanh(x);",
  // x·Φ(x) and x·σ(x), with the limit 0 at −∞ rather than −∞·0.
  gelu: `if ${NEG_INF} { return 0.0; } return m_mul(x, m_phi(x));`,
  silu: `if ${NEG_INF} { return 0.0; } return m_mul(x, m_sigmoid(x));`,
};

/** dy·f′(x) per op, over `x`, `g` (= dy) and `p.alpha`. */
const UNARY_VJP: Record<string, string> = {
  neg: "return m_neg(g);",
  exp: "return m_mul(g, m_exp(x));",
  log: "return m_div(g, x);",
  // The subgradient at exactly 0 is 0 (and α for leaky ReLU, so that α = 0 is ReLU).
  relu: "return select(0.0, g, positive(x));",
  leaky_relu: "return select(m_mul(p.alpha, g), g, positive(x));",
  sigmoid: "return m_mul(g, m_sigmoid_slope(x));",
  // sech²x = (2e/(1 + e²))² with e = e^(−|x|): 1 − tanh² would cancel to 0 in the tails.
  tanh: `let e = m_exp(-abs(x));
    let s = (2.0 * e) / (1.0 + e * e);
    return m_mul(m_mul(g, s), s);`,
  // Φ(x) + x·φ(x), with the limits 1 and 0 at ±∞ rather than ∞·0.
  gelu: `if ${POS_INF} { return g; }
    if ${NEG_INF} { return 0.0; }
    return m_mul(g, m_phi(x) + x * m_pdf(x));`,
  // σ(x)·(1 + x·σ(−x)), σ(−x) formed directly rather than as 1 − σ(x).
  silu: `if ${POS_INF} { return g; }
    if ${NEG_INF} { return 0.0; }
    let e = m_exp(-abs(x));
    let s = 1.0 / (1.0 + e);
    let sp = select(s, e * s, x < 0.0);
    let sm = select(e * s, s, x < 0.0);
    return m_mul(g, sp * (1.0 + x * sm));`,
};

const BINARY: Record<string, string> = {
  add: "return m_add(a, b);",
  sub: "return m_add(a, m_neg(b));",
  mul: "return m_mul(a, b);",
  div: "return m_div(a, b);",
};

/** (∂y/∂a·g, ∂y/∂b·g) per op, over `a`, `b`, `g`. */
const BINARY_VJP: Record<string, string> = {
  add: "return vec2<f32>(g, g);",
  sub: "return vec2<f32>(g, m_neg(g));",
  mul: "return vec2<f32>(m_mul(g, b), m_mul(g, a));",
  // −g·a/b² as −(g/b)·(a/b): b² would overflow or underflow long before either factor.
  div: "let q = m_div(g, b); return vec2<f32>(q, -m_mul(q, m_div(a, b)));",
};

const HEADER = `${WGSL_MATH}\n${FLAT_INDEX}\n${POSITIVE}\nstruct P { n: u32, alpha: f32 }`;

/** y = f(x), one thread per element or per vec4. */
function unaryWgsl(body: string, vec4: boolean): string {
  const T = vec4 ? "vec4<f32>" : "f32";
  const apply = vec4 ? "vec4<f32>(f(v.x), f(v.y), f(v.z), f(v.w))" : "f(v)";
  return `${HEADER}
@group(0) @binding(0) var<storage, read> xs: array<${T}>;
@group(0) @binding(1) var<storage, read_write> ys: array<${T}>;
@group(0) @binding(2) var<uniform> p: P;
fn f(x: f32) -> f32 { ${body} }
${MAIN_1D}
  if (i >= p.n) { return; }
  let v = xs[i];
  ys[i] = ${apply};
}`;
}

/** dx = f′(x)·dy. */
function unaryVjpWgsl(body: string, vec4: boolean): string {
  const T = vec4 ? "vec4<f32>" : "f32";
  const apply = vec4 ? "vec4<f32>(f(v.x, w.x), f(v.y, w.y), f(v.z, w.z), f(v.w, w.w))" : "f(v, w)";
  return `${HEADER}
@group(0) @binding(0) var<storage, read> xs: array<${T}>;
@group(0) @binding(1) var<storage, read> gs: array<${T}>;
@group(0) @binding(2) var<storage, read_write> ys: array<${T}>;
@group(0) @binding(3) var<uniform> p: P;
fn f(x: f32, g: f32) -> f32 { ${body} }
${MAIN_1D}
  if (i >= p.n) { return; }
  let v = xs[i];
  let w = gs[i];
  ys[i] = ${apply};
}`;
}

/**
 * Where output element i reads a and b. "same": both have the output's shape (vec4 allowed);
 * "bcast": up to rank 6, through the strides in `dims` (0 along a broadcast dimension).
 */
type Layout = "same" | "vec4" | "bcast";

const BCAST_INDEX = /* wgsl */ `
// dims: rank, then per dimension (outermost first) the output size and the strides of a and b.
fn operand_index(i: u32) -> vec2<u32> {
  let rank = dims[0];
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = rank; d > 0u; d = d - 1u) {
    let size = dims[1u + 3u * (d - 1u)];
    let c = rest % size;
    rest = rest / size;
    ia = ia + c * dims[2u + 3u * (d - 1u)];
    ib = ib + c * dims[3u + 3u * (d - 1u)];
  }
  return vec2<u32>(ia, ib);
}`;

function binaryWgsl(body: string, layout: Layout): string {
  const T = layout === "vec4" ? "vec4<f32>" : "f32";
  const read =
    layout === "bcast"
      ? "let at = operand_index(i); ys[i] = f(xa[at.x], xb[at.y]);"
      : layout === "vec4"
        ? "let a = xa[i]; let b = xb[i]; ys[i] = vec4<f32>(f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w));"
        : "ys[i] = f(xa[i], xb[i]);";
  return `${HEADER}
@group(0) @binding(0) var<storage, read> xa: array<${T}>;
@group(0) @binding(1) var<storage, read> xb: array<${T}>;
@group(0) @binding(2) var<storage, read_write> ys: array<${T}>;
@group(0) @binding(3) var<uniform> p: P;
${layout === "bcast" ? `@group(0) @binding(4) var<storage, read> dims: array<u32>;\n${BCAST_INDEX}` : ""}
fn f(a: f32, b: f32) -> f32 { ${body} }
${MAIN_1D}
  if (i >= p.n) { return; }
  ${read}
}`;
}

/** The per-element gradients of both operands, at the output's shape. */
function binaryVjpWgsl(body: string, layout: Layout): string {
  const T = layout === "vec4" ? "vec4<f32>" : "f32";
  let read: string;
  if (layout === "bcast") {
    read =
      "let at = operand_index(i); let d = f(xa[at.x], xb[at.y], gs[i]); da[i] = d.x; db[i] = d.y;";
  } else if (layout === "vec4") {
    read = `let a = xa[i]; let b = xb[i]; let g = gs[i];
  let d0 = f(a.x, b.x, g.x); let d1 = f(a.y, b.y, g.y); let d2 = f(a.z, b.z, g.z); let d3 = f(a.w, b.w, g.w);
  da[i] = vec4<f32>(d0.x, d1.x, d2.x, d3.x);
  db[i] = vec4<f32>(d0.y, d1.y, d2.y, d3.y);`;
  } else {
    read = "let d = f(xa[i], xb[i], gs[i]); da[i] = d.x; db[i] = d.y;";
  }
  return `${HEADER}
@group(0) @binding(0) var<storage, read> xa: array<${T}>;
@group(0) @binding(1) var<storage, read> xb: array<${T}>;
@group(0) @binding(2) var<storage, read> gs: array<${T}>;
@group(0) @binding(3) var<storage, read_write> da: array<${T}>;
@group(0) @binding(4) var<storage, read_write> db: array<${T}>;
@group(0) @binding(5) var<uniform> p: P;
${layout === "bcast" ? `@group(0) @binding(6) var<storage, read> dims: array<u32>;\n${BCAST_INDEX}` : ""}
fn f(a: f32, b: f32, g: f32) -> vec2<f32> { ${body} }
${MAIN_1D}
  if (i >= p.n) { return; }
  ${read}
}`;
}

/**
 * The broadcast of a and b against the output shape, with adjacent dimensions merged where
 * both operands step through them alike (fewer div/mod per element).
 */
function broadcastMeta(a: readonly number[], b: readonly number[], out: readonly number[]) {
  const rank = out.length;
  const pad = (s: readonly number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const [pa, pb] = [pad(a), pad(b)];
  const [sa, sb] = [stridesOf(pa), stridesOf(pb)];
  const dims: { size: number; sa: number; sb: number }[] = [];
  for (let d = 0; d < rank; d++) {
    if (out[d] === 1) continue;
    const dim = { size: out[d], sa: pa[d] === 1 ? 0 : sa[d], sb: pb[d] === 1 ? 0 : sb[d] };
    const prev = dims[dims.length - 1];
    // Row-major: the previous (outer) dimension merges when each stride is size × this one.
    if (prev && prev.sa === dim.sa * dim.size && prev.sb === dim.sb * dim.size) {
      prev.size *= dim.size;
      prev.sa = dim.sa;
      prev.sb = dim.sb;
    } else dims.push(dim);
  }
  const meta = new Uint32Array(1 + 3 * dims.length);
  meta[0] = dims.length;
  dims.forEach((d, i) => {
    meta.set([d.size, d.sa, d.sb], 1 + 3 * i);
  });
  return meta;
}

const result = (shape: readonly number[], data: Float32Array): Tensor => ({
  shape: [...shape],
  data,
});

export function elementwiseKernels(rt: GpuRuntime): GpuKernels {
  const unary =
    (op: string) =>
    async ({ x }: { x: Operand }, attrs: object) => {
      const n = countOf(x);
      if (n === 0) return result(x.shape, new Float32Array(0));
      const vec4 = n % 4 === 0;
      const alpha = (attrs as { alpha?: number }).alpha ?? 0;
      const xs = rt.input(x);
      const ys = rt.alloc(4 * n);
      const threads = vec4 ? n / 4 : n;
      rt.dispatch(
        `unary:${op}:${vec4 ? "vec4" : "f32"}`,
        () => unaryWgsl(UNARY[op], vec4),
        [xs, ys, rt.params([threads, f32(alpha)])],
        rt.grid(threads),
      );
      return rt.result(ys, x.shape);
    };

  const unaryVjp =
    (op: string) =>
    async ({ x, dy }: { x: Operand; dy: Operand }, attrs: object) => {
      const n = countOf(x);
      if (n === 0) return result(x.shape, new Float32Array(0));
      const vec4 = n % 4 === 0;
      const alpha = (attrs as { alpha?: number }).alpha ?? 0;
      const xs = rt.input(x);
      const gs = rt.input(dy);
      const ys = rt.alloc(4 * n);
      const threads = vec4 ? n / 4 : n;
      rt.dispatch(
        `unary_vjp:${op}:${vec4 ? "vec4" : "f32"}`,
        () => unaryVjpWgsl(UNARY_VJP[op], vec4),
        [xs, gs, ys, rt.params([threads, f32(alpha)])],
        rt.grid(threads),
      );
      return rt.result(ys, x.shape);
    };

  /** The layout of a binary op, and its thread count. */
  const plan = (a: Operand, b: Operand, out: readonly number[]) => {
    const n = sizeOf(out);
    const same = countOf(a) === n && countOf(b) === n;
    const layout: Layout = same ? (n % 4 === 0 ? "vec4" : "same") : "bcast";
    return { n, layout, threads: layout === "vec4" ? n / 4 : n };
  };

  const binary =
    (op: string) =>
    async ({ a, b }: { a: Operand; b: Operand }) => {
      const out = broadcastShapes(a.shape, b.shape)!;
      const { n, layout, threads } = plan(a, b, out);
      if (n === 0) return result(out, new Float32Array(0));
      const bindings = [rt.input(a), rt.input(b), rt.alloc(4 * n)];
      bindings.push(rt.params([threads, f32(0)]));
      if (layout === "bcast") bindings.push(rt.upload(broadcastMeta(a.shape, b.shape, out)));
      rt.dispatch(
        `binary:${op}:${layout}`,
        () => binaryWgsl(BINARY[op], layout),
        bindings,
        rt.grid(threads),
      );
      return rt.result(bindings[2], out);
    };

  const binaryVjp =
    (op: string) =>
    async ({ a, b, dy }: { a: Operand; b: Operand; dy: Operand }) => {
      const out = broadcastShapes(a.shape, b.shape)!;
      const { n, layout, threads } = plan(a, b, out);
      if (n === 0) {
        return {
          da: result(a.shape, new Float32Array(countOf(a))),
          db: result(b.shape, new Float32Array(countOf(b))),
        };
      }
      const ga = rt.alloc(4 * n);
      const gb = rt.alloc(4 * n);
      const bindings = [rt.input(a), rt.input(b), rt.input(dy), ga, gb];
      bindings.push(rt.params([threads, f32(0)]));
      if (layout === "bcast") bindings.push(rt.upload(broadcastMeta(a.shape, b.shape, out)));
      rt.dispatch(
        `binary_vjp:${op}:${layout}`,
        () => binaryVjpWgsl(BINARY_VJP[op], layout),
        bindings,
        rt.grid(threads),
      );
      // A broadcast operand was read by many output elements: its gradient is their sum.
      const da = reduceToShape(rt, ga, out, a.shape);
      const db = reduceToShape(rt, gb, out, b.shape);
      const [dA, dB] = await rt.results([
        [da, a.shape],
        [db, b.shape],
      ]);
      return { da: dA, db: dB };
    };

  const kernels: Record<string, unknown> = {};
  for (const op of Object.keys(UNARY)) {
    kernels[op] = unary(op);
    kernels[`${op}_vjp`] = unaryVjp(op);
  }
  for (const op of Object.keys(BINARY)) {
    kernels[op] = binary(op);
    kernels[`${op}_vjp`] = binaryVjp(op);
  }
  return kernels as GpuKernels;
}

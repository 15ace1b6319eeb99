/**
 * Random kernels on the GPU: dropout and its gradient, and the four weight initialisers, all
 * drawing from Philox-4x32-10 in WGSL, bit-identical to src/engine/random.ts. A random word is a pure
 * function of (key, counter), so one invocation per element needs no state, no seed buffer and
 * no ordering: dropout draws the same mask as the CPU backends, element for element.
 *
 * Memory: dropout reads 4 bytes and writes 4 bytes per element (the mask is never stored; the
 * gradient recomputes it from the seed); an initialiser only writes 4 bytes per weight. The cost
 * is the 10 Philox rounds (2 products each, 32×32 → 64 bits built from 16-bit halves), not memory.
 */
import type { DropoutAttrs, InitAttrs, KaimingAttrs } from "../contract.ts";
import { dropThreshold, INIT_STREAM, seedKey } from "../random.ts";
import {
  countOf,
  FLAT_INDEX,
  f32,
  type GpuKernels,
  type GpuRuntime,
  isGpuTensor,
  MAIN_1D,
  type Operand,
} from "./runtime.ts";
import { WGSL_MATH } from "./wgsl-math.ts";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9n;
const W1 = 0xbb67ae85n;

/** The round keys key + r·W (mod 2^32) of round r, as WGSL u32 additions of constants. */
function roundKey(word: "x" | "y", w: bigint, round: number): string {
  if (round === 0) return `key.${word}`;
  return `(key.${word} + ${(w * BigInt(round)) & 0xffffffffn}u)`;
}

/** The ten rounds written out: SwiftShader keeps a WGSL loop as a loop (measured ~1.4× slower). */
const PHILOX_ROUNDS = Array.from(
  { length: 10 },
  (_, r) => `  hi0 = mulhi32(${M0}u, c.x);
  lo0 = ${M0}u * c.x;
  hi1 = mulhi32(${M1}u, c.z);
  lo1 = ${M1}u * c.z;
  c = vec4<u32>(hi1 ^ c.y ^ ${roundKey("x", W0, r)}, lo1, hi0 ^ c.w ^ ${roundKey("y", W1, r)}, lo0);`,
).join("\n");

/**
 * Philox-4x32-10 in WGSL: `philox4x32(counter, key)`, the same function as src/engine/random.ts's
 * philox4x32 (checked against the Random123 known answers in random.test.ts): multipliers
 * 0xD2511F53 and 0xCD9E8D57, Weyl key increments 0x9E3779B9 and 0xBB67AE85 (the key of round r
 * is key + r·W, folded into constants here), u32 arithmetic wrapping.
 *
 * WGSL has no 64-bit integers, so the high word of each 32×32 product is assembled from 16-bit
 * halves (the low word is the wrapping u32 product).
 */
export const PHILOX_WGSL = /* wgsl */ `
// High 32 bits of the 64-bit product a·b = (a_hi·2^16 + a_lo)(b_hi·2^16 + b_lo). Every partial
// sum below stays under 2^32: (2^16 − 1)² + (2^16 − 1) < 2^32.
fn mulhi32(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let t = a_hi * b_lo + ((a_lo * b_lo) >> 16u);
  let v = a_lo * b_hi + (t & 0xffffu);
  return a_hi * b_hi + (t >> 16u) + (v >> 16u);
}

fn philox4x32(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var hi0: u32;
  var lo0: u32;
  var hi1: u32;
  var lo1: u32;
${PHILOX_ROUNDS}
  return c;
}
`;

/**
 * Inverted dropout: y[i] = x[i]·scale where word 0 of philox([i, 0, 0, 0], key) ≥ threshold,
 * else exactly 0 (never x·0, which would keep a NaN). The threshold and the scale are the
 * host's: dropThreshold(p) and 1/(1 − p) rounded once to f32, as cpu32 rounds it.
 */
const DROPOUT_WGSL = /* wgsl */ `
${PHILOX_WGSL}
${FLAT_INDEX}
struct P { n: u32, k0: u32, k1: u32, threshold: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> ys: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.n) { return; }
  let word = philox4x32(vec4<u32>(i, 0u, 0u, 0u), vec2<u32>(p.k0, p.k1)).x;
  ys[i] = select(0.0, xs[i] * p.scale, word >= p.threshold);
}`;

/**
 * The initialisers' samplers, from counter [i, INIT_STREAM, 0, 0] as src/engine/random.ts's uniformAt
 * and normalAt. The uniform word w maps to (w + 0.5)/2^32; the arithmetic that matters is done
 * on the integer w, so that the float32 result keeps full relative accuracy at both ends.
 */
const SAMPLERS_WGSL = /* wgsl */ `
// 2u − 1 = (2w + 1 − 2^32)/2^32 = (d + 0.5)·2^-31 with d = w − 2^31 (an i32): symmetric about 0,
// never ±1 beyond rounding, and without the cancellation of forming u first.
fn signed_unit(w: u32) -> f32 {
  let d = bitcast<i32>(w ^ 0x80000000u);
  return (f32(d) + 0.5) * 4.656612873077393e-10;
}

// ln(1 − e) for 0 < e ≤ ½, as −2·atanh(s) with s = e/(2 − e) ≤ ⅓: an odd series in s with no
// cancellation anywhere (the first omitted term is below 10⁻¹⁰ relative). The textbook
// correction ln(v)·e/(1 − v) with v = 1 − e is not safe in WGSL: SwiftShader's compiler
// folds 1 − (1 − e) to e, which silently undoes it (measured: 2.6% error in z).
fn log1m(e: f32) -> f32 {
  let s = e / (2.0 - e);
  let s2 = s * s;
  let q = 0.33333334 + s2 * (0.2 + s2 * (0.14285715 + s2 * (0.11111111 + s2 * (0.09090909
    + s2 * (0.07692308 + s2 * (0.06666667 + s2 * 0.05882353))))));
  return -2.0 * (s + (s * s2) * q);
}

// −2·ln u for u = (w + 0.5)/2^32. Below ½, u itself is accurate; above, ln u = ln(1 − e) with
// e = 1 − u = (~w + 0.5)/2^32 formed exactly on the integer, so that u → 1 (z → 0) keeps its
// relative accuracy instead of quantising e to float32's spacing near 1.
fn minus_two_log_unit(w: u32) -> f32 {
  if (w < 0x80000000u) {
    return -2.0 * m_log((f32(w) + 0.5) * 2.3283064365386963e-10);
  }
  return -2.0 * log1m((f32(~w) + 0.5) * 2.3283064365386963e-10);
}

// sin and cos on [0, π/4]: Taylor polynomials whose first omitted terms are below 3·10⁻⁹.
fn sin_small(a: f32) -> f32 {
  let s = a * a;
  return a + (a * s) * (-0.16666667 + s * (0.008333334 + s * (-0.0001984127 + s * 2.7557319e-06)));
}
fn cos_small(a: f32) -> f32 {
  let s = a * a;
  return 1.0 + s * (-0.5 + s * (0.041666668 + s * (-0.0013888889 + s * (2.4801588e-05
    + s * -2.7557319e-07))));
}

// cos(2π·(w + 0.5)/2^32). WGSL's cos promises only 2⁻¹¹ absolute, so reduce exactly on the
// integer: the top two bits are the quadrant, the rest a fraction of a quarter turn, folded
// to at most an eighth of a turn (angle ≤ π/4) by complementing the integer.
fn cos_turn(w: u32) -> f32 {
  let q = w >> 30u;
  let r = w & 0x3fffffffu;
  let fold = r >= 0x20000000u;
  let rr = select(r, 0x3fffffffu - r, fold);
  let a = (f32(rr) + 0.5) * 1.4629180792671596e-09; // 2π/2^32
  var c = cos_small(a);
  var s = sin_small(a);
  if (fold) {
    let t = c;
    c = s;
    s = t;
  }
  // cos(θ + q·π/2) for q = 0, 1, 2, 3: cos, −sin, −cos, sin.
  let v = select(c, s, (q & 1u) == 1u);
  return select(v, -v, q == 1u || q == 2u);
}

// Box–Muller on words 0 and 1: √(−2 ln u₁)·cos(2π u₂).
fn normal_of(words: vec4<u32>) -> f32 {
  return sqrt(minus_two_log_unit(words.x)) * cos_turn(words.y);
}
`;

type InitKind = "uniform" | "normal";

/** w[i] = scale·(2u − 1) or scale·z, one thread per weight. */
function initWgsl(kind: InitKind): string {
  const value =
    kind === "uniform" ? "p.scale * signed_unit(words.x)" : "p.scale * normal_of(words)";
  return `${WGSL_MATH}
${PHILOX_WGSL}
${SAMPLERS_WGSL}
${FLAT_INDEX}
struct P { n: u32, k0: u32, k1: u32, stream: u32, scale: f32 }
@group(0) @binding(0) var<storage, read_write> ws: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.n) { return; }
  let words = philox4x32(vec4<u32>(i, p.stream, 0u, 0u), vec2<u32>(p.k0, p.k1));
  ws[i] = ${value};
}`;
}

export function randomKernels(rt: GpuRuntime): GpuKernels {
  /** Dropout's map applied to t (x forward, dy backward): the same mask, the same scale. */
  const dropout = async (t: Operand, { p, seed, training }: DropoutAttrs) => {
    const n = countOf(t);
    // Off: a fresh copy, bit for bit (NaN payloads, −0 and subnormals included); on the device,
    // `result` copies the input's buffer into one of the output's own.
    if (!training || p === 0 || n === 0) {
      if (isGpuTensor(t)) return rt.result(rt.input(t), t.shape);
      return { shape: [...t.shape], data: (t.data as Float32Array).slice() };
    }
    const [k0, k1] = seedKey(seed);
    // The scale is computed once in float64 and rounded to f32, exactly as cpu32 does.
    const scale = Math.fround(1 / (1 - p));
    const xs = rt.input(t);
    const ys = rt.alloc(4 * n);
    rt.dispatch(
      "dropout",
      () => DROPOUT_WGSL,
      [xs, ys, rt.params([n, k0, k1, dropThreshold(p), f32(scale)])],
      rt.grid(n),
    );
    return rt.result(ys, [...t.shape]);
  };

  /** A [fan_out, fan_in] weight matrix of scale·sample(i). */
  const init = async (kind: InitKind, { shape, seed }: InitAttrs, scale: number) => {
    const n = shape[0] * shape[1];
    const out = [shape[0], shape[1]];
    if (n === 0) return { shape: out, data: new Float32Array(0) };
    const [k0, k1] = seedKey(seed);
    const ws = rt.alloc(4 * n);
    rt.dispatch(
      `init:${kind}`,
      () => initWgsl(kind),
      [ws, rt.params([n, k0, k1, INIT_STREAM, f32(scale)])],
      rt.grid(n),
    );
    return rt.result(ws, out);
  };

  const fan = ({ shape, mode }: KaimingAttrs): number => (mode === "fan_out" ? shape[0] : shape[1]);

  return {
    dropout: ({ x }, attrs) => dropout(x, attrs),
    dropout_vjp: ({ dy }, attrs) => dropout(dy, attrs),
    xavier_normal: (_i, a) => init("normal", a, a.gain * Math.sqrt(2 / (a.shape[0] + a.shape[1]))),
    xavier_uniform: (_i, a) =>
      init("uniform", a, a.gain * Math.sqrt(6 / (a.shape[0] + a.shape[1]))),
    kaiming_normal: (_i, a) => init("normal", a, a.gain / Math.sqrt(fan(a))),
    kaiming_uniform: (_i, a) => init("uniform", a, a.gain * Math.sqrt(3 / fan(a))),
  };
}

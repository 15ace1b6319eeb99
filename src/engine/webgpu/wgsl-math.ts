/**
 * Float32 math for WGSL kernels, accurate to about 1 ULP: exp, log, tanh, sigmoid, erf and the
 * normal CDF Φ. Paste `WGSL_MATH` into a shader and call m_exp, m_log, …
 *
 * Why not WGSL's builtins: the spec promises exp to 3 + 2·|x| ULP, log to 2⁻²¹ absolute near 1,
 * and has no erf at all; drivers differ (tanh overflows to NaN for large |x| on some). These
 * versions use range reduction and minimax polynomials fitted for float32 (error of each
 * polynomial ≤ 3·10⁻⁹ relative, below half an ULP), so the result does not depend on the driver.
 * Measured against float64 over 10⁶+ float32 arguments (with correctly rounded division):
 * exp < 1 ULP, log < 1 ULP, tanh ≤ 1.5 ULP, erf ≤ 1.5 ULP, Φ ≤ 5.3 ULP (near x = −√2, where
 * ½ − ½·erf cancels; elsewhere a few ULP), including Φ's far left tail (x ≈ −13).
 *
 * NaN, ±∞ and the overflow/underflow ranges are decided on the bits, never by `x != x`:
 * WGSL lets a compiler assume that floats are finite.
 *
 * Subnormals: many GPUs (SwiftShader among them) flush subnormal operands and results of float
 * arithmetic to zero. m_add, m_mul and m_div give the IEEE result anyway: a subnormal operand is
 * rescaled from its integer significand, and a subnormal result is assembled from bits (moves,
 * selects and stores never flush). Their fast path, taken by every normal operand, is the plain
 * operator. m_greater and m_same compare on the bits for the same reason.
 */

export const WGSL_MATH = /* wgsl */ `
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// +∞ and NaN cannot be constant expressions in WGSL: build them at run time.
fn pos_inf() -> f32 {
  var bits = 0x7f800000u;
  return bitcast<f32>(bits);
}
fn quiet_nan() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

// 2^k for -126 <= k <= 127, exactly.
fn exp2i(k: i32) -> f32 {
  return bitcast<f32>(u32(k + 127) << 23u);
}

// x·2^k for any k, exact whenever the result is normal (steps toward it within exp2i's range).
fn scale2(x: f32, k: i32) -> f32 {
  var y = x;
  var e = k;
  loop {
    if (e > 127) {
      y = y * exp2i(127);
      e = e - 127;
    } else if (e < -126) {
      y = y * exp2i(-126);
      e = e + 126;
    } else {
      break;
    }
  }
  return y * exp2i(e);
}

// |x| = m·2^e for a finite nonzero x, m an integer below 2^24, read from the bits.
fn split_float(x: f32) -> vec2<i32> {
  let b = bitcast<u32>(x) & 0x7fffffffu;
  if ((b >> 23u) == 0u) { return vec2<i32>(i32(b), -149); }
  return vec2<i32>(i32((b & 0x007fffffu) | 0x00800000u), i32(b >> 23u) - 150);
}

// −x by flipping the sign bit: exact for every input, subnormals and NaN included.
fn m_neg(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) ^ 0x80000000u);
}

fn sign_bit(x: f32) -> u32 {
  return bitcast<u32>(x) & 0x80000000u;
}

// A value below 2^-126 assembled from its multiple of 2^-149 (round half to even).
fn subnormal_from(sign: u32, units: f32) -> f32 {
  return bitcast<f32>(sign | u32(round(abs(units))));
}

// a·b with IEEE subnormals (see the header).
fn m_mul(a: f32, b: f32) -> f32 {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let ea = (ba >> 23u) & 0xffu;
  let eb = (bb >> 23u) & 0xffu;
  // Both normal (or ±∞, NaN) and the product at least 2^-124: the operator is exact enough.
  if ((ea != 0u && eb != 0u && ea + eb >= 130u) || ea == 255u || eb == 255u) {
    // ∞·subnormal is ∞, not the NaN of ∞·0 that a flushing GPU computes.
    let fa = select(a, bitcast<f32>((ba & 0x80000000u) | 0x3f800000u), ea == 0u && (ba & 0x7fffffffu) != 0u);
    let fb = select(b, bitcast<f32>((bb & 0x80000000u) | 0x3f800000u), eb == 0u && (bb & 0x7fffffffu) != 0u);
    return fa * fb;
  }
  let sign = (ba ^ bb) & 0x80000000u;
  if ((ba & 0x7fffffffu) == 0u || (bb & 0x7fffffffu) == 0u) { return bitcast<f32>(sign); }
  let sa = split_float(a);
  let sb = split_float(b);
  let p = f32(sa.x) * f32(sb.x);
  let e = sa.y + sb.y;
  let r = scale2(p, e);
  if (((bitcast<u32>(r) >> 23u) & 0xffu) != 0u) { return bitcast<f32>(sign | bitcast<u32>(r)); }
  return subnormal_from(sign, scale2(p, e + 149));
}

// a·2^149 for a subnormal (or zero) a: its significand as a float, with a's sign.
fn subnormal_scaled(bits: u32) -> f32 {
  let v = f32(bits & 0x007fffffu);
  return select(v, -v, (bits >> 31u) != 0u);
}

// a·2^100 exactly, for |a| < 2^-102 (exponent field <= 24), subnormals included.
fn up100(bits: u32) -> f32 {
  if (((bits >> 23u) & 0xffu) != 0u) { return bitcast<f32>(bits + (100u << 23u)); }
  return subnormal_scaled(bits) * exp2i(-49);
}

// a + b with IEEE subnormals: when both are below 2^-102 the sum is formed at 2^100 times the
// scale (exact: a sum that lands below 2^-126 is a multiple of 2^-149). Otherwise a flushed
// operand is below half an ULP of the other, so the operator rounds exactly as IEEE does.
fn m_add(a: f32, b: f32) -> f32 {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  if (((ba >> 23u) & 0xffu) > 24u || ((bb >> 23u) & 0xffu) > 24u) { return a + b; }
  let s = up100(ba) + up100(bb);
  if (abs(s) >= exp2i(-26)) { return s * exp2i(-100); }
  return subnormal_from(sign_bit(s), s * exp2i(49));
}

// a / b with subnormal operands rescaled from their significands (a subnormal quotient may
// still flush to zero).
fn m_div(a: f32, b: f32) -> f32 {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let sub_a = ((ba >> 23u) & 0xffu) == 0u && (ba & 0x7fffffffu) != 0u;
  let sub_b = ((bb >> 23u) & 0xffu) == 0u && (bb & 0x7fffffffu) != 0u;
  if (!sub_a && !sub_b) { return a / b; }
  if ((bb & 0x7fffffffu) == 0u) {
    // subnormal / ±0 is ±∞ (a flushing GPU would say 0/0 = NaN).
    return bitcast<f32>((ba & 0x80000000u) | 0x3f800000u) / b;
  }
  let fa = select(a, subnormal_scaled(ba), sub_a);
  let fb = select(b, subnormal_scaled(bb), sub_b);
  return scale2(fa / fb, select(0, -149, sub_a) - select(0, -149, sub_b));
}

// A key whose unsigned order is the order of the floats (−0 just below +0), NaN aside.
fn order_key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b >> 31u) != 0u);
}

// a > b, right for subnormals where a flushing GPU's comparison sees two zeros.
fn m_greater(a: f32, b: f32) -> bool {
  return order_key(a) > order_key(b);
}

// a == b as IEEE compares (+0 equals −0; NaN equals nothing), on the bits.
fn m_same(a: f32, b: f32) -> bool {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  return !is_nan(a) && (ba == bb || ((ba | bb) & 0x7fffffffu) == 0u);
}

// e^x: x = k·ln2 + r with |r| <= ln2/2 (Cody–Waite: k·LN2_HI is exact), e^r = 1 + r + r²·q(r),
// then two exact power-of-two scalings; a subnormal result is rounded once, from the bits.
fn m_exp(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  if (x > 89.0) { return pos_inf(); }
  if (x < -104.0) { return 0.0; }
  let k = round(x * 1.442695);
  let r = (x - k * 0.69314575) - k * 1.4286068e-06;
  let q = 0.5 + r * (0.16666667 + r * (0.041666467 + r * (0.008333361 + r * (0.0013933604
    + r * 0.00019857785))));
  let p = 1.0 + (r + (r * r) * q);
  let ki = i32(k);
  if (ki < -125) {
    // A subnormal result, assembled from bits: a GPU that flushes would return 0.
    return subnormal_from(0u, p * exp2i(ki + 149));
  }
  let k1 = ki / 2;
  return (p * exp2i(k1)) * exp2i(ki - k1);
}

// ln x: x = 2^e·m with m in [√½, √2) read from the bits (subnormals normalised with integer
// shifts, so a GPU that flushes them still gets their log), f = m − 1 exactly, and
// ln(1 + f) = f + f²·Q(f).
fn m_log(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  if (is_nan(x)) { return x; }
  if ((bits & 0x7fffffffu) == 0u) { return -pos_inf(); }
  if ((bits >> 31u) != 0u) { return quiet_nan(); }
  if (bits == 0x7f800000u) { return x; }
  var e = i32(bits >> 23u) - 127;
  var mant = bits & 0x007fffffu;
  if ((bits >> 23u) == 0u) {
    let shift = countLeadingZeros(mant) - 8u;
    mant = (mant << shift) & 0x007fffffu;
    e = -126 - i32(shift);
  }
  var m = bitcast<f32>(mant | 0x3f800000u);
  if (m > 1.4142135) {
    m = bitcast<f32>(mant | 0x3f000000u);
    e = e + 1;
  }
  let f = m - 1.0;
  let q = -0.5 + f * (0.33333334 + f * (-0.24999972 + f * (0.20000038 + f * (-0.16669033
    + f * (0.14286397 + f * (-0.12432334 + f * (0.11026391 + f * (-0.107586525
    + f * (0.10645977 + f * -0.061078694)))))))));
  let ef = f32(e);
  return ef * 0.69314575 + (f + ((f * f) * q + ef * 1.4286068e-06));
}

// tanh: an odd polynomial below 0.55, (1 − t)/(1 + t) with t = e^(−2|x|) above (never
// overflows), exactly ±1 beyond 9.1, and x itself below 2^-12 (keeps −0 and subnormals).
fn m_tanh(x: f32) -> f32 {
  let a = abs(x);
  if (is_nan(x) || a < 0.000244140625) { return x; }
  if (a < 0.55) {
    let s = x * x;
    let r = -0.33333334 + s * (0.13333324 + s * (-0.0539647 + s * (0.02181846
      + s * (-0.008526374 + s * 0.002526444))));
    return x + (x * s) * r;
  }
  var y = 1.0;
  if (a < 9.1) {
    let t = m_exp(-2.0 * a);
    y = (1.0 - t) / (1.0 + t);
  }
  return select(y, -y, x < 0.0);
}

// σ(x) = 1/(1 + e) or e/(1 + e) with e = e^(−|x|) <= 1: never forms e^|x|.
fn m_sigmoid(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let e = m_exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(s, m_mul(e, s), x < 0.0);
}

// σ(x)·σ(−x) = e/(1 + e)², symmetric in x: the sigmoid's slope without 1 − σ's cancellation.
fn m_sigmoid_slope(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let e = m_exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return m_mul(m_mul(e, s), s);
}

// erfc(z)·e^(z²) for z >= 1, as a polynomial in t = 1/z on three pieces of (0, 1].
fn erfc_scaled(t: f32) -> f32 {
  if (t >= 0.5) {
    let w = t - 0.75;
    return 0.3511347 + w * (0.34136885 + w * (-0.15456958 + w * (0.049566925 + w * (0.0024034358
      + w * (-0.022171464 + w * (0.025158262 + w * -0.017990438))))));
  }
  if (t >= 0.25) {
    let w = t - 0.375;
    return 0.19907263 + w * (0.47401577 + w * (-0.18610072 + w * (-0.025563123 + w * (0.13372429
      + w * (-0.13066836 + w * (0.029399276 + w * 0.11190157))))));
  }
  let w = t - 0.1745;
  return 0.097015895 + w * (0.5401973 + w * (-0.1282419 + w * (-0.18063572 + w * (0.22799675
    + w * (0.03154502 + w * (-0.39201045 + w * 0.37777552))))));
}

// The leading 12 bits of x: hi(x)² is exact, so e^(−x²) = e^(−hi²)·e^(−(x − hi)(x + hi))
// keeps full relative accuracy where x² alone would lose x²·u.
fn hi12(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) & 0xfffff000u);
}

// erfc(z) for z >= 1, with full relative accuracy into the subnormal range.
fn m_erfc_tail(z: f32) -> f32 {
  if (z > 10.1) { return 0.0; }
  let h = hi12(z);
  return m_mul(m_mul(m_exp(-(h * h)), m_exp((h - z) * (h + z))), erfc_scaled(1.0 / z));
}

// erf(z) = z + z·T(z²) below 1, ±(1 − erfc|z|) above.
fn m_erf(z: f32) -> f32 {
  let a = abs(z);
  if (is_nan(z) || a < 0.000244140625) { return z; }
  if (a < 1.0) {
    let s = z * z;
    let t = 0.12837917 + s * (-0.37612626 + s * (0.112836 + s * (-0.026854444 + s * (0.005189535
      + s * (-0.0008020839 + s * 7.889109e-05)))));
    return z + z * t;
  }
  let y = 1.0 - m_erfc_tail(a);
  return select(y, -y, z < 0.0);
}

// Φ(x) = ½·erfc(−x/√2). Beyond |x| = √2 the tail erfc is formed from x itself (x²/2 split as
// above, t = √2/|x|), so Φ keeps its relative accuracy down to x ≈ −13 (Φ ≈ 10⁻³⁸).
fn m_phi(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let a = abs(x);
  if (a <= 1.4142135) {
    let z = -x * 0.70710677;
    let s = z * z;
    let t = 0.12837917 + s * (-0.37612626 + s * (0.112836 + s * (-0.026854444 + s * (0.005189535
      + s * (-0.0008020839 + s * 7.889109e-05)))));
    return 0.5 - 0.5 * (z + z * t);
  }
  var half_tail = 0.0;
  if (a < 14.3) {
    let h = hi12(a);
    let e = m_mul(m_exp(-0.5 * (h * h)), m_exp(0.5 * ((h - a) * (h + a))));
    half_tail = m_mul(e, 0.5 * erfc_scaled(1.4142135 / a));
  }
  return select(1.0 - half_tail, half_tail, x < 0.0);
}

// The standard normal density φ(x) = e^(−x²/2)/√(2π).
fn m_pdf(x: f32) -> f32 {
  return 0.3989423 * m_exp(-0.5 * (x * x));
}
`;

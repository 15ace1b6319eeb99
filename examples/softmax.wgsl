// Numerically stable softmax over the last axis, for tensorlaws' WGSL adapter.
//
//   npx tensorlaws verify --wgsl softmax=examples/softmax.wgsl
//
// One workgroup per row (the adapter dispatches `rows` workgroups). The workgroup's 64 threads
// stride over the row, so a row may be any length, and make three passes:
//   1. the row max M (a shared-memory tree reduction);
//   2. the sum S = Σ e^(x_j − M): every exponent is ≤ 0, so nothing overflows;
//   3. y_j = e^(x_j − M) / S.
//
// Two details that a first version gets wrong and the laws catch:
// - WGSL's exp() is only promised to 3 + 2·|x| ULP, and SwiftShader's exp(d) = exp2(d·log2 e)
//   loses |d| ULP more in the product: tiny probabilities (d ≈ −50) then miss the budget (law
//   B15c). exp_le0 below is within about 1 ULP.
// - A compiler may assume floats are finite, and SwiftShader's exp() turns NaN into a number,
//   so special values are decided on the bits: a NaN or +∞ logit makes its row NaN (∞ − ∞), a
//   row of −∞ is 0/0 = NaN, and a −∞ logit in a finite row gets exactly 0 (laws B15a, B15c).

struct Params { rows: u32, cols: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG = 64u;

var<workgroup> partial: array<f32, WG>;

fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn is_finite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u; }
// −∞ and NaN cannot be constant expressions in WGSL: built from a variable at run time.
fn from_bits(b: u32) -> f32 { var v = b; return bitcast<f32>(v); }

// The larger of a and b, NaN if either is (WGSL's max may drop a NaN).
fn max_nan(a: f32, b: f32) -> f32 { return select(a, b, b > a || is_nan(b)); }

// 2^k for −126 ≤ k ≤ 127, exactly, from the bits.
fn exp2i(k: i32) -> f32 { return bitcast<f32>(u32(k + 127) << 23u); }

// e^d for d ≤ 0 (−∞ gives 0): d = k·ln 2 + r with ln 2 split in two so that r is exact,
// e^r by a polynomial accurate to float32, then scaled by 2^k in two steps (k may be < −126).
fn exp_le0(d: f32) -> f32 {
  let t = max(d, -104.0);
  let k = round(t * 1.442695);
  let r = (t - k * 0.69314575) - k * 1.4286068e-06;
  let q = 0.5 + r * (0.16666667 + r * (0.041666467 + r * (0.008333361 + r * (0.0013933604
    + r * 0.00019857785))));
  let p = 1.0 + (r + (r * r) * q);
  let ki = i32(k);
  let k1 = ki / 2;
  return select((p * exp2i(k1)) * exp2i(ki - k1), 0.0, d < -104.0);
}

// Leaves the max (is_max) or the sum of the threads' `v` in partial[0] for every thread.
fn reduce(lid: u32, v: f32, is_max: bool) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h = h / 2u) {
    if (lid < h) {
      let a = partial[lid];
      let b = partial[lid + h];
      partial[lid] = select(a + b, max_nan(a, b), is_max);
    }
    workgroupBarrier();
  }
  let r = partial[0];
  // Nobody may overwrite partial[0] before every thread has read it.
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  // More than 65535 rows fold into a 2-D grid.
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  let n = params.cols;
  let base = row * n;

  var m = from_bits(0xff800000u); // −∞
  for (var j = lid; j < n; j += WG) { m = max_nan(m, x[base + j]); }
  let row_max = reduce(lid, m, true);

  var s = 0.0;
  for (var j = lid; j < n; j += WG) { s += exp_le0(x[base + j] - row_max); }
  let total = reduce(lid, s, false);

  // NaN, +∞ or a row of −∞: the row max alone decides, and every output is NaN.
  let bad = !is_finite(row_max);
  let nan = from_bits(0x7fc00000u);
  for (var j = lid; j < n; j += WG) {
    y[base + j] = select(exp_le0(x[base + j] - row_max) / total, nan, bad);
  }
}

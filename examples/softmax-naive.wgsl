// The classic wrong softmax: y_j = exp(x_j) / Σ exp(x_k), without subtracting the row max.
// It agrees with softmax on small logits, but exp overflows float32 past x ≈ 88.7: the row
// becomes ∞/∞ = NaN (and a row of logits below −104 underflows to 0/0). tensorlaws' B1 law
// (logits up to 1e38) rejects it; examples/softmax.wgsl is the fix.
//
//   npx tensorlaws verify --wgsl softmax=examples/softmax-naive.wgsl

struct Params { rows: u32, cols: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// One workgroup per row, of a single thread that walks the row twice.
@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  var total = 0.0;
  for (var j = 0u; j < params.cols; j++) { total += exp(x[base + j]); }
  for (var j = 0u; j < params.cols; j++) { y[base + j] = exp(x[base + j]) / total; }
}

// ReLU, an elementwise op: the adapter dispatches ceil(n / 256) workgroups of 256 threads,
// folded into a 2-D grid past 65535 workgroups, so the flat index takes wid.y into account.

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= params.n) { return; }
  // Decided on the bits, not by max(v, 0.0) or a float comparison: WGSL leaves max(NaN, 0) to
  // the driver, and a GPU that flushes subnormals compares a tiny positive v as 0 (law C4c
  // scales it up by 1000 and notices). Negative means the sign bit is set and v is not NaN; −0
  // gives +0, and everything else is copied bit for bit.
  let bits = bitcast<u32>(x[i]);
  let negative = bits >= 0x80000000u && bits <= 0xff800000u;
  y[i] = select(x[i], 0.0, negative);
}

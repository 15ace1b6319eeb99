// examples/matmul.wgsl with a classic tiling bug: the loop runs over k / TILE tiles, rounding
// down, so when k is not a multiple of 8 the last k % 8 products are never added. Every test
// with k = 8, 16, 64 passes; tensorlaws' I1a law ("every shape, including sizes that are not
// multiples of any tile") rejects it.

struct Params { m: u32, k: u32, n: u32, batch: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const TILE = 8u;

var<workgroup> ta: array<array<f32, TILE>, TILE>;
var<workgroup> tb: array<array<f32, TILE>, TILE>;

@compute @workgroup_size(TILE, TILE, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = params.m;
  let k = params.k;
  let n = params.n;
  let row = gid.y;
  let col = gid.x;
  let z = gid.z;
  var acc = 0.0;
  let tiles = k / TILE; // BUG: should be (k + TILE - 1u) / TILE
  for (var t = 0u; t < tiles; t++) {
    let ka = t * TILE + lid.x;
    let kb = t * TILE + lid.y;
    var va = 0.0;
    if (row < m && ka < k) { va = a[(z * m + row) * k + ka]; }
    var vb = 0.0;
    if (kb < k && col < n) { vb = b[(z * k + kb) * n + col]; }
    ta[lid.y][lid.x] = va;
    tb[lid.y][lid.x] = vb;
    workgroupBarrier();
    for (var i = 0u; i < TILE; i++) { acc += ta[lid.y][i] * tb[i][lid.x]; }
    workgroupBarrier();
  }
  if (row < m && col < n) { c[(z * m + row) * n + col] = acc; }
}

// Tiled matmul C = A·B for A [batch, m, k], B [batch, k, n], row-major. The adapter dispatches
// ceil(n / 8) × ceil(m / 8) × batch workgroups (the tile is read from @workgroup_size): each
// computes one 8×8 tile of C, staging 8×8 tiles of A and B in workgroup memory. Tiles that hang
// over the edge of A or B load zeros, so any m, k, n works.

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
  // ceil(k / TILE) tiles: the last one may be partial.
  let tiles = (k + TILE - 1u) / TILE;
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

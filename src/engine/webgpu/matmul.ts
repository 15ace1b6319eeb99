/**
 * Batched matrix product [..., m, k] × [..., k, n] → [..., m, n] and its gradient: one tiled
 * kernel specialised on how each operand is laid out, and a direct kernel for tiny matrices.
 *
 * Tiling: each workgroup (8 × 8 threads) owns a 64 × 64 tile of C and walks k in steps of 16.
 * Per step the 64 threads cooperatively copy a 64 × 16 slice of op(A) and a 16 × 64 slice of
 * op(B) into workgroup memory (4 KiB each: four vec4 loads, or sixteen float loads, per thread
 * per operand), then each thread accumulates an 8 × 8 block of C in registers: per k, two vec4s
 * of A (its 8 rows) and two of B (its 8 columns) from shared memory feed 64 multiply-adds.
 * Global traffic: each element of A is read n/64 times and each of B m/64 times, 8/64 bytes per
 * multiply-add instead of the 8 of one thread per output; shared-memory traffic is 1 word per
 * 16 multiply-adds. C is written once (4 bytes per output).
 *
 * Why these sizes (measured on SwiftShader, the CI adapter, on 2 cores):
 *  - SwiftShader pays per invocation to launch a workgroup that has barriers (~1.2 µs each), so
 *    fewer threads with more outputs each win: 16 × 16 threads × 4 × 4 outputs (also a 64 × 64
 *    tile) took 175 ms at 512³, 1095 ms at 1024³ and 927 ms on [4096, 64] × [64, 1024]; these
 *    8 × 8 threads × 8 × 8 outputs take 93, 646 and 349 ms. 8 × 8 × (4 × 4) was in between; a
 *    k-step of 8 or 32 was no better than 16, nor unrolling the k loop.
 *  - On a discrete GPU this is a classic shape too: 64 threads of 64 accumulators each, 8 KiB of
 *    shared memory, 16 multiply-adds per shared-memory word.
 *  - Staging the C tile through shared memory (for coalesced float stores) was slower here:
 *    WebGPU zero-fills workgroup memory at every workgroup's start, and 16 KiB of it cost more
 *    than the checked stores (511³: 1.2 against 1.45 GFLOP per CPU-second).
 *
 * Layout specialisations (one pipeline per combination, by the key):
 *  - transpose flags tA, tB: op(A) = Aᵀ reads A stored [K, M], op(B) = Bᵀ reads B stored [N, K].
 *    The gradient dA = dY·Bᵀ and dB = Aᵀ·dY are the same kernel with a flag set: no transpose is
 *    ever materialised, on the host or on the GPU;
 *  - vec4 flags: an operand whose stored rows have a length divisible by 4 is read as vec4
 *    (every row, and every batch, then starts on a 16-byte boundary, and a vec4 is either wholly
 *    inside the matrix or wholly outside it); C is written as vec4 when n is divisible by 4.
 *
 * Every size is correct: loads outside the matrix read zeros, and stores outside it are skipped.
 * A zero-filled k-tail contributes 0 · (−0) = −0 to each sum, and the sums start from −0, so an
 * exact −0 result (−0 · 1) survives, as in a sequential sum (+0 padding would turn it into +0).
 * Batches run along the grid's z dimension; grids beyond the device's per-dimension limit are
 * split into several dispatches of the same call.
 */
import type { Tensor } from "../tensor.ts";
import {
  countOf,
  FLAT_INDEX,
  type GpuKernels,
  type GpuRuntime,
  MAIN_1D,
  type Operand,
} from "./runtime.ts";

/** Threads per side of a workgroup, outputs per thread per side (a multiple of 4), k-step. */
const THREADS = 8;
const PER = 8;
const TK = 16;
/** Output tile (rows × columns) per workgroup. */
const TILE = THREADS * PER;
/** vec4 slots per operand slice in shared memory. */
const SLOTS = (TILE * TK) / 4;
// The loads give every thread the same number of 4-float groups and of 4 × 4 blocks.
if ((SLOTS / 4) % (THREADS * THREADS) !== 0) throw new Error("matmul: tile sizes do not divide");

interface Spec {
  /** op(A) = Aᵀ: A is stored [K, M]. */
  ta: boolean;
  /** op(B) = Bᵀ: B is stored [N, K]. */
  tb: boolean;
  /** A, B read as vec4; C written as vec4. */
  va: boolean;
  vb: boolean;
  vc: boolean;
}

const keyOf = (s: Spec) =>
  `matmul:${s.ta ? "T" : "N"}${s.tb ? "T" : "N"}:${[s.va, s.vb, s.vc].map((v) => (v ? "4" : "1")).join("")}`;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * WGSL copying one operand's slice into shared memory as [TK][TILE/4] vec4s. `outer` is the
 * operand's non-k dimension (rows of A, columns of B), `origin` its first index in the tile.
 * Where the stored rows run along the outer index (A transposed, B not), a thread reads 4 outer
 * indices at one k and stores them as one vec4 (SLOTS such groups). Where they run along k
 * (A not transposed, B transposed), a thread reads a 4 × 4 block, 4 k's of each of 4 outer
 * indices, and stores it transposed as 4 vec4s (SLOTS/4 blocks): whole-vec4 stores, as a
 * dynamically indexed component store is slow to compile and run on SwiftShader. Consecutive
 * threads take consecutive groups (blocks along k first). The groups are unrolled for vec4
 * loads; float loads stay a WGSL loop, as SwiftShader's compiler took gigabytes (and was
 * stopped) on the unrolled float loads of two operands.
 */
function loadWgsl(
  name: string,
  offset: number,
  kMajor: boolean,
  vec4: boolean,
  outer: string,
  origin: string,
  pad: string,
): string {
  const step = THREADS * THREADS;
  const loop = (groups: number, body: string) =>
    vec4
      ? range(groups / step)
          .map((j) => `{\n      let u = t + ${j * step}u;${body}\n    }`)
          .join("\n    ")
      : `for (var u = t; u < ${groups}u; u = u + ${step}u) {${body}\n    }`;
  if (kMajor) {
    // Row i of the block: 4 k's from gk of outer index go + i.
    const row = (i: number) => {
      const at = `${name}Base + (go + ${i}u) * p.k + gk`;
      const ok = `go + ${i}u < ${outer}`;
      return vec4
        ? `select(vec4<f32>(${pad}), ${name}[(${at}) / 4u], ${ok} && gk < p.k)`
        : `vec4<f32>(${range(4)
            .map((q) => `select(${pad}, ${name}[${at} + ${q}u], ${ok} && gk + ${q}u < p.k)`)
            .join(", ")})`;
    };
    return loop(
      SLOTS / 4,
      `
      let oq = (u / ${TK / 4}u) * 4u;
      let kq = (u % ${TK / 4}u) * 4u;
      let go = ${origin} + oq;
      let gk = k0 + kq;
      ${range(4)
        .map((i) => `let v${i} = ${row(i)};`)
        .join("\n      ")}
      ${range(4)
        .map(
          (q) =>
            `S[${offset}u + (kq + ${q}u) * ${TILE / 4}u + (oq >> 2u)] = vec4<f32>(v0[${q}], v1[${q}], v2[${q}], v3[${q}]);`,
        )
        .join("\n      ")}`,
    );
  }
  const at = `${name}Base + gk * ${outer} + go`;
  const read = vec4
    ? `select(vec4<f32>(${pad}), ${name}[(${at}) / 4u], gk < p.k && go < ${outer})`
    : `vec4<f32>(${range(4)
        .map((q) => `select(${pad}, ${name}[${at} + ${q}u], gk < p.k && go + ${q}u < ${outer})`)
        .join(", ")})`;
  return loop(
    SLOTS,
    `
      let go = ${origin} + (u % ${TILE / 4}u) * 4u;
      let gk = k0 + u / ${TILE / 4}u;
      S[${offset}u + u] = ${read};`,
  );
}

/** C[z] = op(A[z]) · op(B[z]) with op(A) M×K and op(B) K×N. */
function matmulWgsl(s: Spec): string {
  const T = (v: boolean) => (v ? "vec4<f32>" : "f32");
  const V = PER / 4;
  // acc_r_c: row r of this thread's block, columns 4c … 4c + 3.
  const accs = range(PER).flatMap((r) => range(V).map((c) => `acc_${r}_${c}`));
  // Each thread stores its own block, every store checked against the matrix's edge.
  const store = range(PER)
    .flatMap((r) =>
      range(V).flatMap((c) => {
        const row = `row + ${r}u`;
        if (s.vc) {
          const col = `col + ${4 * c}u`;
          return [
            `if (${row} < p.m && ${col} < p.n) { C[(cBase + (${row}) * p.n + ${col}) / 4u] = acc_${r}_${c}; }`,
          ];
        }
        return range(4).map((q) => {
          const col = `col + ${4 * c + q}u`;
          return `if (${row} < p.m && ${col} < p.n) { C[cBase + (${row}) * p.n + ${col}] = acc_${r}_${c}[${q}]; }`;
        });
      }),
    )
    .join("\n  ");
  const fmas = range(PER)
    .flatMap((r) =>
      range(V).map((c) => `acc_${r}_${c} = acc_${r}_${c} + a${r >> 2}[${r & 3}] * b${c};`),
    )
    .join("\n      ");
  return /* wgsl */ `
struct P { m: u32, k: u32, n: u32, gx: u32, gy: u32, gz: u32 }
@group(0) @binding(0) var<storage, read> A: array<${T(s.va)}>;
@group(0) @binding(1) var<storage, read> B: array<${T(s.vb)}>;
@group(0) @binding(2) var<storage, read_write> C: array<${T(s.vc)}>;
@group(0) @binding(3) var<uniform> p: P;

// S[kk·${TILE / 4} + i/4] holds op(A) rows 4·(i/4) … +3 at k-step index kk, S[${SLOTS} + …]
// likewise op(B)'s columns.
var<workgroup> S: array<vec4<f32>, ${2 * SLOTS}>;

@compute @workgroup_size(${THREADS}, ${THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let row0 = (wid.y + p.gy) * ${TILE}u;
  let col0 = (wid.x + p.gx) * ${TILE}u;
  let z = wid.z + p.gz;
  let ABase = z * p.m * p.k;
  let BBase = z * p.k * p.n;
  let cBase = z * p.m * p.n;
  // −0 built at run time: WGSL may fold a literal −0.0 to +0.
  var negZeroBits = 0x80000000u;
  let nz = bitcast<f32>(negZeroBits);
  ${accs.map((v) => `var ${v} = vec4<f32>(nz);`).join("\n  ")}
  let steps = (p.k + ${TK - 1}u) / ${TK}u;
  for (var step = 0u; step < steps; step = step + 1u) {
    let k0 = step * ${TK}u;
    ${loadWgsl("A", 0, !s.ta, s.va, "p.m", "row0", "0.0")}
    ${loadWgsl("B", SLOTS, s.tb, s.vb, "p.n", "col0", "nz")}
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk = kk + 1u) {
      ${range(V)
        .map((c) => `let a${c} = S[kk * ${TILE / 4}u + lid.y * ${V}u + ${c}u];`)
        .join("\n      ")}
      ${range(V)
        .map((c) => `let b${c} = S[${SLOTS}u + kk * ${TILE / 4}u + lid.x * ${V}u + ${c}u];`)
        .join("\n      ")}
      ${fmas}
    }
    workgroupBarrier();
  }
  let row = row0 + lid.y * ${PER}u;
  let col = col0 + lid.x * ${PER}u;
  ${store}
}`;
}

/**
 * Products of at most SMALL outputs per matrix (a sixteenth of a tile) take a direct kernel
 * instead: one thread per output, no shared memory and no barrier, a 1-D grid over all batches'
 * outputs. On SwiftShader a multiply-add costs ~16× less in a full tile than in the direct
 * kernel (1.5 against 0.1–0.2 GFLOP per CPU-second), so below a sixteenth of a tile the idle
 * threads cost more than the reuse saves; measured at 16 × 4096 × 16 (direct 11 ms, tiled
 * 18 ms) and 31 × 4096 × 31 (40 ms against 20 ms). A tile also pays a workgroup launch per
 * matrix: a batch of 70 000 1 × 1 products took 68 s tiled and 21 ms direct.
 * Signed zeros as in the tiled kernel: sums start from −0 and see no padding.
 */
const SMALL = (TILE * TILE) / 16;

function directWgsl(ta: boolean, tb: boolean): string {
  return /* wgsl */ `${FLAT_INDEX}
struct P { m: u32, k: u32, n: u32, total: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.total) { return; }
  let mn = p.m * p.n;
  let z = i / mn;
  let r = (i % mn) / p.n;
  let c = i % p.n;
  // op(A)[r, q] and op(B)[q, c] for q = 0, 1, …: first index and stride in the stored layout.
  var ia = z * p.m * p.k + ${ta ? "r" : "r * p.k"};
  var ib = z * p.k * p.n + ${tb ? "c * p.k" : "c"};
  let sa = ${ta ? "p.m" : "1u"};
  let sb = ${tb ? "1u" : "p.n"};
  var negZeroBits = 0x80000000u;
  var acc = bitcast<f32>(negZeroBits);
  for (var q = 0u; q < p.k; q = q + 1u) {
    acc = acc + A[ia] * B[ib];
    ia = ia + sa;
    ib = ib + sb;
  }
  C[i] = acc;
}`;
}

/** One product to record: sizes, batch count, operand buffers and layout flags. */
interface Product {
  m: number;
  k: number;
  n: number;
  batch: number;
  a: GPUBuffer;
  b: GPUBuffer;
  ta: boolean;
  tb: boolean;
}

/**
 * Records C = op(A)·op(B) into the open call and returns C's buffer. The vec4 flags follow from
 * the stored row lengths: A's is k (M when transposed), B's is n (k when transposed).
 */
function record(rt: GpuRuntime, q: Product): GPUBuffer {
  const { m, k, n, batch } = q;
  const c = rt.alloc(4 * batch * m * n);
  if (m * n <= SMALL) {
    const total = batch * m * n;
    rt.dispatch(
      `matmul:direct:${q.ta ? "T" : "N"}${q.tb ? "T" : "N"}`,
      () => directWgsl(q.ta, q.tb),
      [q.a, q.b, c, rt.params([m, k, n, total])],
      rt.grid(total),
    );
    return c;
  }
  const spec: Spec = {
    ta: q.ta,
    tb: q.tb,
    va: (q.ta ? m : k) % 4 === 0,
    vb: (q.tb ? k : n) % 4 === 0,
    vc: n % 4 === 0,
  };
  const key = keyOf(spec);
  const max = rt.device.limits.maxComputeWorkgroupsPerDimension;
  const [gx, gy] = [Math.ceil(n / TILE), Math.ceil(m / TILE)];
  // Almost always a single dispatch; the loops only split grids over the per-dimension limit.
  for (let z = 0; z < batch; z += max) {
    for (let y = 0; y < gy; y += max) {
      for (let x = 0; x < gx; x += max) {
        rt.dispatch(
          key,
          () => matmulWgsl(spec),
          [q.a, q.b, c, rt.params([m, k, n, x, y, z])],
          [Math.min(max, gx - x), Math.min(max, gy - y), Math.min(max, batch - z)],
        );
      }
    }
  }
  return c;
}

/** Matrix sizes and batch count of a validated product a·b. */
function dims(a: Operand, b: Operand) {
  const r = a.shape.length;
  const lead = a.shape.slice(0, r - 2);
  const batch = lead.reduce((p, d) => p * d, 1);
  return { m: a.shape[r - 2], k: a.shape[r - 1], n: b.shape[r - 1], batch, lead };
}

export function matmulKernels(rt: GpuRuntime): GpuKernels {
  const kernels: GpuKernels = {
    matmul: async ({ a, b }: { a: Operand; b: Operand }) => {
      const { m, k, n, batch, lead } = dims(a, b);
      const shape = [...lead, m, n];
      const size = batch * m * n;
      // Nothing to compute: no outputs, or empty sums (+0, like the reference).
      if (size === 0 || k === 0) return { shape, data: new Float32Array(size) };
      const A = rt.input(a);
      const B = rt.input(b);
      const c = record(rt, { m, k, n, batch, a: A, b: B, ta: false, tb: false });
      return rt.result(c, shape);
    },

    // y = a·b: da = dy·bᵀ (m×n · n×k) and db = aᵀ·dy (k×m · m×n), in one round trip.
    matmul_vjp: async ({ a, b, dy }: { a: Operand; b: Operand; dy: Operand }) => {
      const { m, k, n, batch } = dims(a, b);
      // A gradient is empty, or an empty sum (n = 0 for da, m = 0 for db): zeros.
      const needA = countOf(a) > 0 && n > 0;
      const needB = countOf(b) > 0 && m > 0;
      const zeros = (t: Operand): Tensor => ({
        shape: [...t.shape],
        data: new Float32Array(countOf(t)),
      });
      if (!needA && !needB) return { da: zeros(a), db: zeros(b) };
      const G = rt.input(dy);
      const outputs: [GPUBuffer, readonly number[]][] = [];
      if (needA) {
        const B = rt.input(b);
        const p = { m, k: n, n: k, batch, a: G, b: B, ta: false, tb: true };
        outputs.push([record(rt, p), a.shape]);
      }
      if (needB) {
        const A = rt.input(a);
        const p = { m: k, k: m, n, batch, a: A, b: G, ta: true, tb: false };
        outputs.push([record(rt, p), b.shape]);
      }
      const results = await rt.results(outputs);
      return {
        da: needA ? results.shift()! : zeros(a),
        db: needB ? results.shift()! : zeros(b),
      };
    },
  };
  return kernels;
}

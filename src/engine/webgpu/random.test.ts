/**
 * The WGSL Philox is the Philox of src/engine/random.ts, bit for bit: the Random123 known answers run
 * through a tiny kernel, and the dropout mask of the webgpu backend equals dropMask on 10⁶
 * elements for several seeds and drop rates. Skipped, loudly, where there is no adapter
 * (an error under TENSORLAWS_REQUIRE_GPU=1, as in CI).
 */
import { afterAll, describe, expect, it } from "vitest";
import { dropMask, PHILOX_KAT } from "../random.ts";
import type { WebGpuBackend } from "./index.ts";
import { PHILOX_WGSL } from "./random.ts";
import { FLAT_INDEX, MAIN_1D } from "./runtime.ts";
import { webgpuForTests } from "./test-support.ts";

const backend = await webgpuForTests(
  "src/engine/webgpu/random.test.ts (WGSL Philox, GPU dropout mask)",
);
afterAll(() => backend?.dispose());

/** Runs the WGSL philox4x32 on each (counter, key): six input words in, four out. */
async function gpuPhilox(
  gpu: WebGpuBackend,
  cases: readonly { counter: readonly number[]; key: readonly number[] }[],
): Promise<Uint32Array> {
  const rt = gpu.runtime;
  const wgsl = `${PHILOX_WGSL}
${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> inp: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<u32>>;
${MAIN_1D}
  if (i >= arrayLength(&out)) { return; }
  let b = 6u * i;
  out[i] = philox4x32(vec4<u32>(inp[b], inp[b + 1u], inp[b + 2u], inp[b + 3u]),
                      vec2<u32>(inp[b + 4u], inp[b + 5u]));
}`;
  const words = Uint32Array.from(cases.flatMap((c) => [...c.counter, ...c.key]));
  const out = rt.alloc(16 * cases.length);
  rt.dispatch("test:philox", () => wgsl, [rt.upload(words), out], rt.grid(cases.length));
  // The read is float32; slicing a Float32Array copies bytes, so NaN patterns survive intact.
  const data = await rt.read(out, 4 * cases.length);
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}

const hex = (words: ArrayLike<number>): string[] =>
  Array.from(words, (w) => (w >>> 0).toString(16).padStart(8, "0"));

describe.skipIf(!backend)("WGSL Philox-4x32-10", () => {
  it("matches the Random123 known answers", async () => {
    const out = await gpuPhilox(backend!, PHILOX_KAT);
    PHILOX_KAT.forEach((c, i) => {
      expect(hex(out.subarray(4 * i, 4 * i + 4))).toEqual(c.expected);
    });
  });
});

describe.skipIf(!backend)("webgpu dropout", () => {
  const n = 1_000_000;
  // Seeds above 2^32 use the second key word; p = 0.999 puts the threshold near 2^32.
  const cases = [
    { seed: 0, p: 0.5 },
    { seed: 12345, p: 0.1 },
    { seed: 2 ** 32 + 7, p: 0.9 },
    { seed: 2 ** 53 - 1, p: 0.37 },
    { seed: 987654321, p: 0.999 },
  ];

  it.each(cases)(
    "draws dropMask's mask bit for bit on 10⁶ elements (seed $seed, p $p)",
    async ({ seed, p }) => {
      // x in [1, 2) (never 0): an output is 0 exactly where the element was dropped.
      const x = Float32Array.from({ length: n }, (_, i) => 1 + (i % 1024) / 1024);
      const y = await backend!.kernels.dropout!(
        { x: { shape: [n], data: x } },
        {
          p,
          seed,
          training: true,
        },
      );
      const keep = dropMask(seed, p, n);
      const scale = Math.fround(1 / (1 - p));
      let wrongMask = -1;
      let wrongValue = -1;
      for (let i = 0; i < n; i++) {
        const v = y.data[i];
        if ((v !== 0) !== (keep[i] === 1) && wrongMask < 0) wrongMask = i;
        if (keep[i] && v !== Math.fround(x[i] * scale) && wrongValue < 0) wrongValue = i;
      }
      expect(wrongMask, "first element whose mask differs from dropMask").toBe(-1);
      expect(wrongValue, "first survivor not equal to fround(x·fround(1/(1−p)))").toBe(-1);
      const dx = await backend!.kernels.dropout_vjp!(
        { x: { shape: [n], data: x }, dy: { shape: [n], data: x } },
        { p, seed, training: true },
      );
      // dy = x, so the gradient must be the forward's output bit for bit.
      let wrongGrad = -1;
      for (let i = 0; i < n && wrongGrad < 0; i++) if (dx.data[i] !== y.data[i]) wrongGrad = i;
      expect(wrongGrad, "first element where dropout_vjp differs from dropout").toBe(-1);
    },
  );
});

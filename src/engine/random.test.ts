import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  dropMask,
  dropThreshold,
  INIT_STREAM,
  normalAt,
  PHILOX_KAT,
  philox4x32,
  philoxInto,
  seedKey,
  uniformAt,
  type Words4,
} from "./random.ts";

const TWO_32 = 2 ** 32;
const hex = (words: Uint32Array): string[] =>
  Array.from(words, (w) => w.toString(16).padStart(8, "0"));

/** Philox-4x32-10 written independently with BigInt, where the 64-bit product is trivially exact. */
function philoxBigInt(counter: Words4, key: readonly [number, number]): number[] {
  const mask = 0xffffffffn;
  let [c0, c1, c2, c3] = counter.map(BigInt);
  let [k0, k1] = key.map(BigInt);
  for (let round = 0; round < 10; round++) {
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & mask, (p0 >> 32n) ^ c3 ^ k1, p0 & mask];
    k0 = (k0 + 0x9e3779b9n) & mask;
    k1 = (k1 + 0xbb67ae85n) & mask;
  }
  return [c0, c1, c2, c3].map(Number);
}

describe("philox4x32", () => {
  it.each(PHILOX_KAT)(
    "matches the Random123 known answer for key $key",
    ({ counter, key, expected }) => {
      expect(hex(philox4x32(counter, key))).toEqual(expected);
    },
  );

  it("agrees with a BigInt implementation on arbitrary counters and keys", () => {
    const word = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(fc.tuple(word, word, word, word), fc.tuple(word, word), (counter, key) => {
        expect(Array.from(philox4x32(counter, key))).toEqual(philoxBigInt(counter, key));
      }),
      { numRuns: 300 },
    );
  });

  it("accepts words as int32 bit patterns", () => {
    const out = new Uint32Array(4);
    philoxInto(out, -1, -1, -1, -1, -1, -1);
    expect(hex(out)).toEqual(["408f276d", "41c83b0e", "a20bc7c6", "6d5451fd"]);
  });
});

describe("seedKey", () => {
  it("splits seeds into low and high 32-bit words", () => {
    expect(seedKey(0)).toEqual([0, 0]);
    expect(seedKey(12345)).toEqual([12345, 0]);
    expect(seedKey(TWO_32 - 1)).toEqual([0xffffffff, 0]);
    expect(seedKey(TWO_32)).toEqual([0, 1]);
    expect(seedKey(TWO_32 * 7 + 5)).toEqual([5, 7]);
    expect(seedKey(2 ** 53 - 1)).toEqual([0xffffffff, 2 ** 21 - 1]);
  });

  it("rejects seeds outside [0, 2^53) and non-integers", () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Infinity]) {
      expect(() => seedKey(bad)).toThrow(/seed/);
    }
  });
});

describe("dropThreshold", () => {
  it("is ceil(p · 2^32), capped at 2^32 − 1", () => {
    expect(dropThreshold(0)).toBe(0);
    expect(dropThreshold(0.5)).toBe(2 ** 31);
    expect(dropThreshold(0.25)).toBe(2 ** 30);
    expect(dropThreshold(2 ** -32)).toBe(1);
    // Any positive p, however small, drops something: the ceiling rounds up to 1.
    expect(dropThreshold(1e-15)).toBe(1);
    expect(dropThreshold(0.1)).toBe(Math.ceil(0.1 * TWO_32));
    expect(dropThreshold(1 - 2 ** -53)).toBe(TWO_32 - 1);
    expect(dropThreshold(1)).toBe(TWO_32 - 1);
  });

  it("rejects p outside [0, 1]", () => {
    for (const bad of [-0.1, 1.5, Number.NaN]) expect(() => dropThreshold(bad)).toThrow(/'p'/);
  });
});

describe("dropMask", () => {
  it("follows the contract element by element", () => {
    const seed = 2 ** 40 + 99;
    const p = 0.3;
    const mask = dropMask(seed, p, 64);
    for (let i = 0; i < 64; i++) {
      const word = philox4x32([i, 0, 0, 0], seedKey(seed))[0];
      expect(mask[i]).toBe(word < dropThreshold(p) ? 0 : 1);
    }
  });

  it("keeps everything at p = 0 and is reproducible", () => {
    expect(dropMask(7, 0, 1000).every((m) => m === 1)).toBe(true);
    expect(dropMask(7, 0.5, 1000)).toEqual(dropMask(7, 0.5, 1000));
    expect(dropMask(7, 0.5, 1000)).not.toEqual(dropMask(8, 0.5, 1000));
  });

  it("keeps a fraction close to 1 − p", () => {
    const n = 1 << 18;
    for (const p of [0.1, 0.5, 0.9]) {
      const kept = dropMask(42, p, n).reduce((sum, m) => sum + m, 0);
      // Six standard deviations of a Binomial(n, 1 − p) count.
      expect(Math.abs(kept / n - (1 - p))).toBeLessThan(6 * Math.sqrt((p * (1 - p)) / n));
    }
  });

  it("rejects impossible sizes", () => {
    expect(() => dropMask(1, 0.5, -1)).toThrow(/'n'/);
    expect(() => dropMask(1, 0.5, 2.5)).toThrow(/'n'/);
  });
});

describe("uniformAt and normalAt", () => {
  it("read word 0 (and word 1) of counter [i, stream, 0, 0]", () => {
    const seed = 31337;
    const words = philox4x32([5, INIT_STREAM, 0, 0], seedKey(seed));
    const u1 = (words[0] + 0.5) / TWO_32;
    const u2 = (words[1] + 0.5) / TWO_32;
    expect(uniformAt(seed, 5, INIT_STREAM)).toBe(u1);
    expect(normalAt(seed, 5, INIT_STREAM)).toBe(
      Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2),
    );
    expect(uniformAt(seed, 5, 0)).not.toBe(u1);
  });

  it("keeps uniforms strictly inside (0, 1), even at the extreme words", () => {
    expect(0.5 / TWO_32).toBeGreaterThan(0);
    expect((TWO_32 - 1 + 0.5) / TWO_32).toBeLessThan(1);
    for (let i = 0; i < 10000; i++) {
      const u = uniformAt(3, i, INIT_STREAM);
      expect(u > 0 && u < 1).toBe(true);
    }
  });

  it("draws standard normals (sanity check of mean and variance)", () => {
    const n = 100000;
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < n; i++) {
      const z = normalAt(11, i, INIT_STREAM);
      sum += z;
      squares += z * z;
    }
    const mean = sum / n;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(squares / n - mean * mean - 1)).toBeLessThan(0.03);
  });

  it("rejects indices and streams that do not fit a counter word", () => {
    expect(() => uniformAt(1, -1, 0)).toThrow(/'i'/);
    expect(() => uniformAt(1, TWO_32, 0)).toThrow(/'i'/);
    expect(() => normalAt(1, 0, 0.5)).toThrow(/'stream'/);
  });
});

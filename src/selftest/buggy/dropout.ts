/**
 * Known-bad dropout kernels: each is a float32 inverted dropout with one bug that shipped in
 * real code (a missing rescale, p read as the keep probability, a backward that redraws the
 * mask, a seed cut to 32 bits, a generator with hidden state, eval mode left on).
 */
import type { DropoutAttrs, Kernel } from "../../engine/contract.ts";
import { dropThreshold, philoxInto, seedKey } from "../../engine/random.ts";
import { arrayFor, type Tensor } from "../../engine/tensor.ts";
import { type Mutant, mutant } from "./mutant.ts";

interface Variant {
  /** The Philox key the kernel actually uses. */
  key?: (seed: number) => [number, number];
  /** Whether element i is dropped, given its Philox word and p. */
  drops?: (word: number, p: number) => boolean;
  /** The survivors' scale. */
  scale?: (p: number) => number;
  /** Eval mode skipped (the correct behaviour) or not. */
  evalIsIdentity?: boolean;
  /** Which of Philox's four output words decides element i (the contract: word 0). */
  word?: 0 | 1 | 2 | 3;
}

/** Float32 inverted dropout of t, with the variant's deviations from the contract. */
function dropout(t: Tensor, { p, seed, training }: DropoutAttrs, v: Variant = {}): Tensor {
  const out = arrayFor("float32", t.data.length);
  if ((!training && v.evalIsIdentity !== false) || p === 0) {
    out.set(t.data);
    return { shape: [...t.shape], data: out };
  }
  const [k0, k1] = (v.key ?? seedKey)(seed);
  const threshold = dropThreshold(p);
  const drops = v.drops ?? ((w: number) => w < threshold);
  const scale = Math.fround((v.scale ?? ((q: number) => 1 / (1 - q)))(p));
  const words = new Uint32Array(4);
  for (let i = 0; i < t.data.length; i++) {
    philoxInto(words, i, 0, 0, 0, k0, k1);
    out[i] = drops(words[v.word ?? 0], p) ? 0 : Math.fround(t.data[i] * scale);
  }
  return { shape: [...t.shape], data: out };
}

function kernels(v: Variant): { dropout: Kernel<"dropout">; dropout_vjp: Kernel<"dropout_vjp"> } {
  return {
    dropout: ({ x }, attrs) => dropout(x, attrs, v),
    dropout_vjp: ({ dy }, attrs) => dropout(dy, attrs, v),
  };
}

/** A generator with hidden state: each call advances a counter mixed into the key, as a
 * global RNG does when a framework forgets to derive the mask from the seed alone. */
function stateful(): Variant {
  let calls = 0;
  return { key: (seed) => [(seed + calls++) >>> 0, Math.floor(seed / 2 ** 32)] };
}

export const mutants: Mutant[] = [
  mutant(
    "dropout-no-rescale",
    "drops with probability p but leaves the survivors unscaled (classic dropout without the 1/(1−p))",
    ["E1", "E2a", "E6"],
    kernels({ scale: () => 1 }),
  ),
  mutant(
    "dropout-scale-by-1/p",
    "scales the survivors by 1/p instead of 1/(1−p)",
    ["E1", "E2a", "E6"],
    kernels({ scale: (p) => 1 / p }),
  ),
  mutant(
    "dropout-keep-probability",
    "reads p as the keep probability: drops with probability 1−p and scales by 1/p",
    ["E2a", "E2b", "E4c"],
    kernels({ drops: (w, p) => w >= dropThreshold(p), scale: (p) => 1 / p }),
  ),
  mutant(
    "dropout-vjp-redraws-mask",
    "the backward pass draws a fresh mask (seed + 1) instead of reusing the forward's",
    ["E5", "I5i"],
    {
      dropout_vjp: ({ dy }, attrs) => dropout(dy, { ...attrs, seed: attrs.seed + 1 }),
    },
  ),
  mutant(
    "dropout-seed-low-32-bits",
    "keys Philox with the seed's low 32 bits only (a u32 uniform on the GPU), so seeds 2^32 apart share a mask",
    ["E4b", "E4c"],
    kernels({ key: (seed) => [seed >>> 0, 0] }),
  ),
  mutant(
    "dropout-seed-ignored",
    "ignores the seed (a fixed key), so every pass draws the same mask",
    ["E4b", "E4c", "E6"],
    kernels({ key: () => [0x2545f491, 0] }),
  ),
  mutant(
    "dropout-stateful-generator",
    "mixes a hidden call counter into the key, so the same seed gives a different mask on every call",
    ["E4a", "E4c"],
    kernels(stateful()),
  ),
  mutant(
    "dropout-philox-word-1",
    "claims Philox-4x32-10 but decides element i by word 1 of its draw, not word 0: a sound generator with another layout, a convention difference that E4c alone must report",
    ["E4c"],
    kernels({ word: 1 }),
  ),
  mutant(
    "dropout-eval-drops",
    "keeps dropping in evaluation mode (the training flag is ignored)",
    ["E3a"],
    kernels({ evalIsIdentity: false }),
  ),
];

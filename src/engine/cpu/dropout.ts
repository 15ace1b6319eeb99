/**
 * Inverted dropout: element i is zeroed when word 0 of Philox-4x32-10 at counter [i, 0, 0, 0]
 * (key = seed) falls below p·2^32, and every survivor is scaled by 1/(1 − p) so that the
 * expectation is unchanged. Off in eval mode and for p = 0.
 */

import type { DropoutAttrs } from "../contract.ts";
import { dropMask } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { type CpuKernels, type Ctx, copyOf, zeros } from "./common.ts";

export function dropoutKernels(ctx: Ctx): CpuKernels<"dropout" | "dropout_vjp"> {
  const { r } = ctx;

  /** Masks and scales t: the forward applies it to x, the gradient to dy, with the same mask. */
  const apply = (t: Tensor, { p, seed, training }: DropoutAttrs): Tensor => {
    if (!training || p === 0) return copyOf(ctx, t);
    const keep = dropMask(seed, p, t.data.length);
    // The scale is a constant of the kernel: computed once, then held in the backend dtype.
    const scale = r(1 / (1 - p));
    const out = zeros(ctx, t.shape);
    // Dropped elements are exactly 0, even where t is NaN or ∞ (never t·0).
    for (let i = 0; i < keep.length; i++) if (keep[i]) out.data[i] = r(t.data[i] * scale);
    return out;
  };

  return {
    dropout: ({ x }, attrs) => apply(x, attrs),
    dropout_vjp: ({ dy }, attrs) => apply(dy, attrs),
  };
}

/**
 * Weight initialisers for a [fan_out, fan_in] matrix. Element i (row-major) is drawn from
 * Philox at counter [i, INIT_STREAM, 0, 0], so a weight depends only on (seed, i).
 */
import type { InitAttrs, KaimingAttrs } from "../contract.ts";
import { INIT_STREAM, normalAt, uniformAt } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { type CpuKernels, type Ctx, zeros } from "./common.ts";

type InitOp = "xavier_normal" | "xavier_uniform" | "kaiming_normal" | "kaiming_uniform";

export function initKernels(ctx: Ctx): CpuKernels<InitOp> {
  const { r } = ctx;

  /** N(0, std²): std·z with z standard normal (Box–Muller), rounded once to the dtype. */
  const normal = ({ shape, seed }: InitAttrs, std: number): Tensor => {
    const w = zeros(ctx, shape);
    for (let i = 0; i < w.data.length; i++) w.data[i] = r(std * normalAt(seed, i, INIT_STREAM));
    return w;
  };

  /** U(−a, a): a·(2u − 1) with u uniform in (0, 1), rounded once to the dtype. */
  const uniform = ({ shape, seed }: InitAttrs, bound: number): Tensor => {
    const w = zeros(ctx, shape);
    for (let i = 0; i < w.data.length; i++) {
      w.data[i] = r(bound * (2 * uniformAt(seed, i, INIT_STREAM) - 1));
    }
    return w;
  };

  /** Kaiming's fan: the inputs a unit sums over (fan_in, PyTorch's default) or its outputs. */
  const fan = ({ shape, mode }: KaimingAttrs): number => (mode === "fan_out" ? shape[0] : shape[1]);

  return {
    xavier_normal: (_inputs, a) => normal(a, a.gain * Math.sqrt(2 / (a.shape[0] + a.shape[1]))),
    xavier_uniform: (_inputs, a) => uniform(a, a.gain * Math.sqrt(6 / (a.shape[0] + a.shape[1]))),
    kaiming_normal: (_inputs, a) => normal(a, a.gain / Math.sqrt(fan(a))),
    kaiming_uniform: (_inputs, a) => uniform(a, a.gain * Math.sqrt(3 / fan(a))),
  };
}

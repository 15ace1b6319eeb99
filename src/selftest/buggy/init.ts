/**
 * Known-bad initialisers (and one gradient kernel the init laws expose), each a mistake real
 * code has made: the wrong fan, a forgotten gain, a uniform bound for the wrong variance.
 */
import type { InitAttrs, KaimingAttrs } from "../../engine/contract.ts";
import { cpu32 } from "../../engine/cpu/index.ts";
import { INIT_STREAM, normalAt, uniformAt } from "../../engine/random.ts";
import { arrayFor, type Tensor } from "../../engine/tensor.ts";
import { type Mutant, mutant } from "./mutant.ts";

/** A float32 [fan_out, fan_in] weight with element i = value(i), drawn from (seed, i) like the reference. */
function weights({ shape }: InitAttrs, value: (i: number) => number): Tensor {
  const data = arrayFor("float32", shape[0] * shape[1]);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(value(i));
  return { shape: [...shape], data };
}

const normal = (a: InitAttrs, std: number) =>
  weights(a, (i) => std * normalAt(a.seed, i, INIT_STREAM));
const uniform = (a: InitAttrs, lo: number, hi: number) =>
  weights(a, (i) => lo + (hi - lo) * uniformAt(a.seed, i, INIT_STREAM));

export const mutants: Mutant[] = [
  mutant(
    "xavier-normal-std-sum",
    "xavier_normal uses std = 1/(n_in + n_out): the variance formula's 2/(n_in+n_out) misread as a standard deviation",
    ["D1b", "D1c", "D4a"],
    {
      xavier_normal: (_i, a) => normal(a, a.gain / (a.shape[0] + a.shape[1])),
    },
  ),
  mutant(
    "xavier-normal-fan-in",
    "xavier_normal uses variance 1/n_in (LeCun's), ignoring n_out",
    ["D1b", "D4a"],
    {
      xavier_normal: (_i, a) => normal(a, a.gain / Math.sqrt(a.shape[1])),
    },
  ),
  mutant(
    "xavier-normal-is-uniform",
    "xavier_normal draws U(±√3σ): the right variance, but not a normal distribution",
    ["D1c"],
    {
      xavier_normal: (_i, a) => {
        const bound = a.gain * Math.sqrt(6 / (a.shape[0] + a.shape[1]));
        return uniform(a, -bound, bound);
      },
    },
  ),
  mutant(
    "xavier-uniform-sqrt3",
    "xavier_uniform with bound √(3/(n_in+n_out)): half the Xavier variance",
    ["D2a", "D2b"],
    {
      xavier_uniform: (_i, a) => {
        const bound = a.gain * Math.sqrt(3 / (a.shape[0] + a.shape[1]));
        return uniform(a, -bound, bound);
      },
    },
  ),
  mutant(
    "xavier-uniform-not-centred",
    "xavier_uniform draws from [0, a) (a·u instead of a·(2u − 1)): every weight positive",
    ["D2a", "D2b"],
    {
      xavier_uniform: (_i, a) => uniform(a, 0, a.gain * Math.sqrt(6 / (a.shape[0] + a.shape[1]))),
    },
  ),
  mutant(
    "kaiming-normal-fan-out",
    "kaiming_normal divides by fan_out in fan_in mode (the weight layout read as [fan_in, fan_out])",
    ["D3a", "D3b"],
    {
      kaiming_normal: (_i, a: KaimingAttrs) =>
        normal(a, a.gain / Math.sqrt(a.mode === "fan_in" ? a.shape[0] : a.shape[1])),
    },
  ),
  mutant(
    "kaiming-normal-no-gain",
    "kaiming_normal ignores its gain (always 1/√fan): He init without the √2 that ReLU needs",
    ["D3a", "D4b", "D4c"],
    {
      kaiming_normal: (_i, a: KaimingAttrs) =>
        normal(a, 1 / Math.sqrt(a.mode === "fan_in" ? a.shape[1] : a.shape[0])),
    },
  ),
  mutant(
    "kaiming-normal-fixed-gain",
    "kaiming_normal hard-codes ReLU's gain √2 and ignores the gain it is given: right for ReLU layers only",
    ["D3a", "D3b"],
    {
      kaiming_normal: (_i, a: KaimingAttrs) =>
        normal(a, Math.SQRT2 / Math.sqrt(a.mode === "fan_in" ? a.shape[1] : a.shape[0])),
    },
  ),
  mutant(
    "xavier-normal-gain-capped",
    "xavier_normal clamps the gain to at most 2 (a sanity check on an attribute): wrong at gain 3 only",
    ["D1b"],
    {
      xavier_normal: (_i, a) =>
        normal(a, Math.min(a.gain, 2) * Math.sqrt(2 / (a.shape[0] + a.shape[1]))),
    },
  ),
  mutant(
    "kaiming-uniform-double-gain",
    "kaiming_uniform bound gain·√(6/fan): the √2 of ReLU applied on top of the gain",
    ["D3c"],
    {
      kaiming_uniform: (_i, a: KaimingAttrs) => {
        const bound = a.gain * Math.sqrt(6 / (a.mode === "fan_in" ? a.shape[1] : a.shape[0]));
        return uniform(a, -bound, bound);
      },
    },
  ),
  mutant(
    "matmul-vjp-db-tail",
    "matmul_vjp computes db in tiles of 4 columns and skips the remainder: the last units get no gradient",
    ["D6a", "I5h"],
    {
      matmul_vjp: (inputs, attrs) => {
        const g = cpu32.kernels.matmul_vjp!(inputs, attrs) as { da: Tensor; db: Tensor };
        const [rows, cols] = g.db.shape.slice(-2);
        const db = { shape: [...g.db.shape], data: g.db.data.slice() };
        for (let r = 0; r < rows; r++)
          for (let c = cols - (cols % 4); c < cols; c++) db.data[r * cols + c] = 0;
        return { da: g.da, db };
      },
    },
  ),
];

/** Every shipped known-bad backend. */
import { mutants as activations } from "./activations.ts";
import { mutants as backprop } from "./backprop.ts";
import { mutants as boundary } from "./boundary.ts";
import { mutants as device } from "./device.ts";
import { mutants as dropout } from "./dropout.ts";
import { mutants as engine } from "./engine.ts";
import { mutants as init } from "./init.ts";
import { mutants as likelihood } from "./likelihood.ts";
import type { Mutant } from "./mutant.ts";
import { mutants as normalization } from "./normalization.ts";
import { mutants as regularization } from "./regularization.ts";
import { mutants as softmax } from "./softmax.ts";

export type { Mutant } from "./mutant.ts";
export const allMutants: readonly Mutant[] = [
  ...likelihood,
  ...softmax,
  ...activations,
  ...init,
  ...dropout,
  ...normalization,
  ...backprop,
  ...regularization,
  ...engine,
  ...boundary,
  ...device,
];

/** Every law, by topic (one file per topic of the notes, in the order of LAWS.md). */
import type { Law } from "../src/harness/law.ts";
import { activationLaws } from "./activations.laws.ts";
import { backpropLaws } from "./backprop.laws.ts";
import { deviceLaws } from "./device.laws.ts";
import { dropoutLaws } from "./dropout.laws.ts";
import { engineLaws } from "./engine.laws.ts";
import { goldenLaws } from "./golden.laws.ts";
import { initLaws } from "./init.laws.ts";
import { likelihoodLaws } from "./likelihood.laws.ts";
import { normalizationLaws } from "./normalization.laws.ts";
import { regularizationLaws } from "./regularization.laws.ts";
import { sizeLaws } from "./sizes.laws.ts";
import { softmaxLaws } from "./softmax.laws.ts";

export const allLaws: readonly Law[] = [
  ...likelihoodLaws,
  ...softmaxLaws,
  ...activationLaws,
  ...initLaws,
  ...dropoutLaws,
  ...normalizationLaws,
  ...backpropLaws,
  ...regularizationLaws,
  ...engineLaws,
  ...deviceLaws,
  ...sizeLaws,
  ...goldenLaws,
];

/**
 * Every law as a vitest test for each backend, in Node: options from the environment
 * (TENSORLAWS_RUNS, TENSORLAWS_SEED, TENSORLAWS_PATH), devices disposed at the end.
 */
import { afterAll } from "vitest";
import type { Backend } from "../src/engine/contract.ts";
import { envOptions } from "../src/harness/law.ts";
import { disposeAll, reference } from "../src/verify/backends.ts";
import { registerLaws } from "./register-laws.ts";

export function describeLaws(backends: readonly Backend[]): void {
  // The WebGPU device keeps the process alive until it is destroyed.
  afterAll(() => disposeAll(backends));
  registerLaws(backends, envOptions(reference));
}

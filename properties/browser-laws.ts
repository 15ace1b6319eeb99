/**
 * Every law as a vitest test for each backend inside a browser (vitest's browser mode,
 * vitest.browser.config.ts), registered as in Node (register-laws.ts) under the same names.
 * Cases per property and the seed come from the config through vitest's provide/inject: a page
 * has no process.env.
 */
import { inject } from "vitest";
import type { Backend } from "../src/engine/contract.ts";
import { cpu } from "../src/engine/cpu/index.ts";
import { registerLaws } from "./register-laws.ts";

declare module "vitest" {
  export interface ProvidedContext {
    runs: number;
    seed: number;
  }
}

export function describeLawsInBrowser(backends: readonly Backend[]): void {
  registerLaws(backends, { reference: cpu, numRuns: inject("runs"), seed: inject("seed") });
}

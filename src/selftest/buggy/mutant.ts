/**
 * Known-bad kernels: the float32 reference with one kernel subtly wrong, each naming the laws
 * that must catch it. They prove every law can fail (the suite's self-test).
 */
import type { Backend, Kernels } from "../../engine/contract.ts";
import { cpu32 } from "../../engine/cpu/index.ts";

export interface Mutant {
  backend: Backend;
  /** The bug, as a reviewer would describe it. */
  bug: string;
  /** Ids of laws that must fail on this backend. */
  caughtBy: readonly string[];
}

export function mutant(
  name: string,
  bug: string,
  caughtBy: readonly string[],
  kernels: Kernels,
): Mutant {
  return {
    backend: { ...cpu32, name, kernels: { ...cpu32.kernels, ...kernels } },
    bug,
    caughtBy,
  };
}

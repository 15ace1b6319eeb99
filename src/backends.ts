/** Which backends a run covers: the built-ins, plus a module named by TENSORLAWS_BACKEND. */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Backend } from "./contract.ts";
import { cpu, cpu32 } from "./cpu/index.ts";

export const reference: Backend = cpu;

export function builtinBackends(): Backend[] {
  return [cpu, cpu32];
}

function isBackend(v: unknown): v is Backend {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as Backend).name === "string" &&
    ((v as Backend).dtype === "float32" || (v as Backend).dtype === "float64") &&
    typeof (v as Backend).kernels === "object"
  );
}

/** Imports a module whose default export is a backend (or a promise of one). */
export async function loadBackend(path: string): Promise<Backend> {
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  const value = await mod.default;
  if (!isBackend(value)) {
    throw new TypeError(
      `${path}: the default export is not a backend { name, dtype: "float32" | "float64", kernels }`,
    );
  }
  return value;
}

export async function backendsUnderTest(
  env: Record<string, string | undefined> = process.env,
): Promise<Backend[]> {
  const extra = env.TENSORLAWS_BACKEND;
  if (extra) {
    const mine = await loadBackend(extra);
    return env.TENSORLAWS_ONLY === "1" ? [mine] : [...builtinBackends(), mine];
  }
  return builtinBackends();
}

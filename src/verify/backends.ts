/**
 * Which backends a run covers: the built-ins (cpu, cpu32 and, where an adapter exists, webgpu),
 * plus a module named by TENSORLAWS_BACKEND.
 *
 * Environment: TENSORLAWS_WEBGPU=0 leaves the WebGPU backend out; TENSORLAWS_REQUIRE_GPU=1 makes a
 * missing WebGPU adapter an error (CI sets it). Without VK_ICD_FILENAMES, a
 * machine with no hardware adapter falls back to Chromium's SwiftShader when it is installed
 * (src/engine/webgpu/index.ts).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Backend } from "../engine/contract.ts";
import { cpu, cpu32 } from "../engine/cpu/index.ts";
import { createWebGpuBackend, describeAdapter } from "../engine/webgpu/index.ts";

export const reference: Backend = cpu;

/** The CPU backends (synchronous, always there). */
export function builtinBackends(): Backend[] {
  return [cpu, cpu32];
}

type Env = Record<string, string | undefined>;

/**
 * cpu, cpu32 and, when an adapter exists, webgpu; otherwise `noAdapter` says loudly why the
 * WebGPU laws will not run. Dispose the result with `disposeAll` (a live device keeps Node up).
 */
export async function allBuiltinBackends(
  env: Env = process.env,
): Promise<{ backends: Backend[]; noAdapter?: string }> {
  const backends = builtinBackends();
  if (env.TENSORLAWS_WEBGPU === "0" && env.TENSORLAWS_REQUIRE_GPU !== "1") return { backends };
  try {
    const webgpu = await createWebGpuBackend();
    if (webgpu) return { backends: [...backends, webgpu] };
    return {
      backends,
      noAdapter:
        "no WebGPU adapter was found (on Linux without a GPU: apt-get install chromium " +
        "libvulkan1, for SwiftShader at /usr/lib/chromium/vk_swiftshader_icd.json)",
    };
  } catch (e) {
    return {
      backends,
      noAdapter: `creating the WebGPU backend failed: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}

/** Frees every backend's device resources (the WebGPU device, above all). */
export async function disposeAll(backends: readonly Backend[]): Promise<void> {
  for (const b of backends) await b.dispose?.();
}

/** The one-line description of each backend, with the GPU adapter where there is one. */
export function describeBackend(b: Backend): string {
  const info = (b as { adapterInfo?: Parameters<typeof describeAdapter>[0] }).adapterInfo;
  return info ? `${b.name} ${b.dtype} on ${describeAdapter(info)}` : `${b.name} ${b.dtype}`;
}

function warnNoAdapter(reason: string, env: Env): void {
  if (env.TENSORLAWS_REQUIRE_GPU === "1") {
    throw new Error(`TENSORLAWS_REQUIRE_GPU=1 but ${reason}`);
  }
  const line = "=".repeat(78);
  console.warn(
    `${line}\nNO WEBGPU ADAPTER: the WebGPU laws did not run.\n${reason}.\n` +
      `Set TENSORLAWS_REQUIRE_GPU=1 to make this an error.\n${line}`,
  );
}

function isBackend(v: unknown): v is Backend {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as Backend).name === "string" &&
    ((v as Backend).dtype === "float32" || (v as Backend).dtype === "float64") &&
    typeof (v as Backend).kernels === "object" &&
    (v as Backend).kernels !== null
  );
}

/** A backend module could not be used: missing, failed to import, or not exporting a backend. */
export class BackendModuleError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = "BackendModuleError";
  }
}

function describeValue(v: unknown): string {
  if (v === null || typeof v !== "object")
    return typeof v === "undefined" ? "undefined" : `a ${typeof v}`;
  const keys = Object.keys(v);
  return `an object with keys [${keys.slice(0, 8).join(", ")}${keys.length > 8 ? ", …" : ""}]`;
}

/**
 * The module's exports as an ES namespace. A CommonJS module (or TypeScript compiled to CommonJS
 * because its package is not `"type": "module"`) arrives with `module.exports` as its default;
 * when that carries esbuild's `__esModule` mark, the ES exports are inside it.
 */
function esExports(mod: Record<string, unknown>): Record<string, unknown> {
  const inner = mod.default;
  if (typeof inner === "object" && inner !== null && (inner as { __esModule?: unknown }).__esModule)
    return inner as Record<string, unknown>;
  return mod;
}

/**
 * tsx's API, which loadBackend imports every module with. Imported on first use, not at the top:
 * it costs a quarter of a second of CPU, and the processes that load no module (the command
 * itself) never need it. `prepareToLoad` imports it ahead of a load, so that a child's clock for
 * the module's load (isolate.ts) does not count tsx's own start-up.
 */
let tsx: Promise<typeof import("tsx/esm/api")> | undefined;
const moduleLoader = () => {
  tsx ??= import("tsx/esm/api");
  return tsx;
};

/** Gets ready to loadBackend: imports tsx. Never throws (a missing tsx is loadBackend's to
 * report). */
export async function prepareToLoad(): Promise<void> {
  await moduleLoader().catch(() => undefined);
}

/**
 * Imports a backend module whose default export (or `module.exports`) is a backend or a promise
 * of one: TypeScript or JavaScript (.ts, .mts, .cts, .js, .mjs, .cjs), ES module or CommonJS,
 * wherever it lives, with or without a package.json. Each call imports the file afresh.
 */
export async function loadBackend(path: string): Promise<Backend> {
  const file = resolve(path);
  if (!existsSync(file)) throw new BackendModuleError(path, `no such file (${file})`);
  let mod: Record<string, unknown>;
  try {
    // Not import(): under a global tsx loader, TypeScript in a CommonJS package (npm init -y, or no
    // package.json) fails with "Cannot require() ES Module … in a cycle", and a specifier `x.js`
    // resolves to a neighbouring x.ts. tsx's scoped import compiles the file for the module system
    // its extension and nearest package.json give it, whatever hooks this process has.
    // The parent is the module's folder, not this TypeScript file: from a TypeScript parent, tsx
    // would take a path ending in .js for its TypeScript source.
    // A built-in (src/verify/builtins/) too: its engine is then a copy of its own, apart from
    // the reference's. Imported natively instead, sharing the reference's functions (float32
    // and float64 arrays through the same code, most likely what slowed it), cpu32's helpers
    // took `verify --builtin cpu32` about 2 s longer (17-19 s against 16-17.5 s, interleaved).
    const url = pathToFileURL(file).href;
    const { tsImport } = await moduleLoader();
    mod = esExports((await tsImport(url, new URL(".", url).href)) as Record<string, unknown>);
  } catch (e) {
    const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new BackendModuleError(path, `importing the module failed: ${why}`);
  }
  if (!("default" in mod)) {
    const names = Object.keys(mod).filter((k) => k !== "__esModule");
    throw new BackendModuleError(
      path,
      `the module has no default export${names.length ? ` (it exports ${names.join(", ")})` : ""}; export the backend with \`export default\``,
    );
  }
  let value: unknown;
  try {
    value = await mod.default;
  } catch (e) {
    const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new BackendModuleError(path, `the default export is a promise that rejected: ${why}`);
  }
  if (!isBackend(value)) {
    throw new BackendModuleError(
      path,
      `the default export is ${describeValue(value)}, not a backend { name: string, dtype: "float32" | "float64", kernels: { [op]: function } }`,
    );
  }
  return value;
}

/**
 * The backends a test run covers: the built-ins (with a loud banner, or an error under
 * TENSORLAWS_REQUIRE_GPU=1, when WebGPU is missing) plus TENSORLAWS_BACKEND's module;
 * TENSORLAWS_ONLY=1 runs that module alone. `part` splits the run so that test files can go
 * in parallel: "cpu" is the CPU built-ins and the module, "webgpu" the GPU alone. Dispose them
 * with `disposeAll` when done.
 */
export async function backendsUnderTest(
  env: Env = process.env,
  part: "all" | "cpu" | "webgpu" = "all",
): Promise<Backend[]> {
  const extra = env.TENSORLAWS_BACKEND;
  const mine = extra && part !== "webgpu" ? [await loadBackend(extra)] : [];
  if (extra && env.TENSORLAWS_ONLY === "1") return mine;
  if (part === "cpu") return [...builtinBackends(), ...mine];
  const { backends, noAdapter } = await allBuiltinBackends(env);
  if (noAdapter) warnNoAdapter(noAdapter, env);
  const gpu = backends.filter((b) => !builtinBackends().includes(b));
  return part === "webgpu" ? gpu : [...backends, ...mine];
}

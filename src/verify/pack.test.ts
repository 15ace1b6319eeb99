/**
 * The package as a user gets it: `npm pack`, install the tarball into a fresh project (from the
 * npm cache where it can, the registry otherwise), write backend modules there, type-check them
 * against the shipped types and run `npx tensorlaws verify` on them: in a `"type": "module"`
 * project, in one made by `npm init -y` (CommonJS) and in a folder with no package.json, with
 * TypeScript (.ts, .mts) and JavaScript (.mjs, CommonJS .js) modules. The tarball is installed
 * once; the other projects link to its node_modules, as a workspace or a parent folder would.
 * Once it is installed, the commands of the tests (one verify per project, and tsc) run side by
 * side: each is mostly Node, npm and tsx starting up.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "tensorlaws-pack-"));
const project = join(dir, "project");
const commonjs = join(dir, "commonjs");
const bare = join(dir, "bare");
const typed = join(dir, "typed");
// Once the commands are done, whichever tests ran. Deleting an installed node_modules takes
// seconds on a busy machine.
afterAll(async () => {
  if (runs) await Promise.allSettled(Object.values(runs));
  rmSync(dir, { recursive: true, force: true });
}, 180_000);

// The outer `npm test` leaves npm_* settings in the environment (its package, its prefix); the
// user's npm has its own. Only where the cache and the registry are carries over.
const keep = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig"]);
const env: Record<string, string> = { npm_config_prefer_offline: "true", NO_COLOR: "1" };
for (const [k, v] of Object.entries(process.env)) {
  if (v !== undefined && (!k.toLowerCase().startsWith("npm_") || keep.has(k.toLowerCase())))
    env[k] = v;
}

interface Ran {
  code: number | null;
  out: string;
}

function sh(cmd: string, args: string[], cwd: string, timeout = 60_000): Promise<Ran> {
  const child = spawn(cmd, args, { cwd, env });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  const guard = setTimeout(() => child.kill("SIGKILL"), timeout);
  return new Promise((resolve) => {
    child.on("error", (e) => {
      out += String(e);
    });
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, out });
    });
  });
}

/** Runs `npx tensorlaws verify` as the user types it, on one or more modules. */
const verify = (cwd: string, ...args: string[]) =>
  sh("npx", ["tensorlaws", "verify", ...args], cwd, 120_000);

const kernel = (
  typed: boolean,
  shift: boolean,
) => `function softmax({ x }${typed ? ": { x: Tensor }): Tensor" : ")"} {
  const n = x.shape[x.shape.length - 1];
  const y = new Float32Array(x.data.length);
  for (let r = 0; r < y.length; r += n) {
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) max = Math.max(max, x.data[r + i]);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      y[r + i] = Math.exp(x.data[r + i]${shift ? " - max" : ""});
      sum += y[r + i];
    }
    for (let i = 0; i < n; i++) y[r + i] /= sum;
  }
  return { shape: [...x.shape], data: y };
}
`;

/** A softmax backend as TypeScript with `export default`, typed against the shipped types. */
const softmax = (name: string, shift = true) => `import type { Backend, Tensor } from "tensorlaws";

${kernel(true, shift)}
const backend: Backend = { name: "${name}", dtype: "float32", kernels: { softmax } };
export default backend;
`;
/** The same in plain JavaScript: CommonJS's module.exports. */
const softmaxCjs = (name: string) =>
  `"use strict";\n${kernel(false, true)}\nmodule.exports = { name: "${name}", dtype: "float32", kernels: { softmax } };\n`;
/** An ES module that uses the package at run time: cpu32's softmax under its own name. */
const cpu32Mjs = (name: string) => `import { cpu32 } from "tensorlaws";

export default { name: "${name}", dtype: "float32", kernels: { softmax: cpu32.kernels.softmax } };
`;

/** The tests' commands, started together once the package is installed. */
let runs: {
  moduleProject: Promise<Ran>;
  commonjs: Promise<Ran>;
  bare: Promise<Ran>;
  tsc: Promise<Ran>;
};

beforeAll(async () => {
  mkdirSync(commonjs);
  // `npm init -y`: npm 11 writes "type": "commonjs", older npm no "type" at all (CommonJS too).
  const [pack, init] = await Promise.all([
    sh("npm", ["pack", "--silent", "--pack-destination", dir], root, 240_000),
    sh("npm", ["init", "-y"], commonjs),
  ]);
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.out}`);
  if (init.code !== 0) throw new Error(`npm init -y failed:\n${init.out}`);
  const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  if (!tgz) throw new Error(`npm pack wrote no tarball in ${dir}`);
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "user-project", private: true, type: "module" }),
  );
  // --prefer-offline: the cache when it has the package, the registry for what it lacks.
  const install = ["install", "--prefer-offline", "--no-audit", "--no-fund", "-D", join(dir, tgz)];
  const r = await sh("npm", install, project, 240_000);
  if (r.code !== 0) throw new Error(`npm install of the tarball failed:\n${r.out}`);
  writeFileSync(join(project, "adapter.ts"), softmax("mine"));
  writeFileSync(join(project, "naive.ts"), softmax("naive", false));
  writeFileSync(join(project, "module.mts"), softmax("esm-mts"));
  writeFileSync(join(project, "module.mjs"), cpu32Mjs("esm-mjs"));

  symlinkSync(join(project, "node_modules"), join(commonjs, "node_modules"), "dir");
  writeFileSync(join(commonjs, "backend.js"), softmaxCjs("cjs-js"));
  writeFileSync(join(commonjs, "backend.ts"), softmax("cjs-ts"));
  writeFileSync(join(commonjs, "backend.mts"), softmax("cjs-mts"));

  mkdirSync(bare);
  symlinkSync(join(project, "node_modules"), join(bare, "node_modules"), "dir");
  writeFileSync(join(bare, "backend.js"), softmaxCjs("bare-js"));
  writeFileSync(join(bare, "backend.ts"), softmax("bare-ts"));
  writeFileSync(join(bare, "backend.mjs"), cpu32Mjs("bare-mjs"));

  // The type check in a project of its own (an ES module one, as `project`): its tsconfig.json
  // must not be read by the verify that runs meanwhile in `project` (tsx reads the tsconfig of
  // the folder it starts in).
  mkdirSync(typed);
  writeFileSync(
    join(typed, "package.json"),
    JSON.stringify({ name: "typed-project", private: true, type: "module" }),
  );
  symlinkSync(join(project, "node_modules"), join(typed, "node_modules"), "dir");
  writeFileSync(join(typed, "adapter.ts"), softmax("mine"));
  writeFileSync(join(typed, "naive.ts"), softmax("naive", false));
  writeFileSync(
    join(typed, "wrong.ts"),
    `import type { Backend } from "tensorlaws";\nexport const b: Backend = { name: "w", dtype: "float16", kernels: {} };\n`,
  );
  writeFileSync(
    join(typed, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      files: ["adapter.ts", "naive.ts", "wrong.ts"],
    }),
  );

  // Every verify run starts Node, tsx and the laws afresh (seconds each): one run per project,
  // several modules in it, and the tests read their parts of its output.
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  runs = {
    moduleProject: verify(
      project,
      "./adapter.ts",
      "./naive.ts",
      "./module.mts",
      "./module.mjs",
      "--laws",
      "B1,B2",
    ),
    commonjs: verify(commonjs, "./backend.js", "./backend.ts", "./backend.mts", "--laws", "B2"),
    bare: verify(bare, "./backend.js", "./backend.ts", "./backend.mjs", "--laws", "B2"),
    tsc: sh(process.execPath, [tsc, "-p", "."], typed),
  };
}, 300_000);

describe("the packed package in a user's project", () => {
  test("npx tensorlaws verify passes a correct softmax adapter written in TypeScript", async () => {
    expect((await runs.moduleProject).out).toContain("mine: 2 passed, 0 failed");
  });

  test("npx tensorlaws verify fails a softmax that overflows, naming the law, and exits 1", async () => {
    const r = await runs.moduleProject;
    expect(r.out).toContain("✗ B1 on naive:");
    expect(r.code).toBe(1);
  });

  test('in a "type": "module" project, a .mts module and a .mjs module that imports the package pass', async () => {
    const r = await runs.moduleProject;
    expect(r.out).toContain("esm-mts: 2 passed, 0 failed");
    expect(r.out).toContain("esm-mjs: 2 passed, 0 failed");
  });

  test("in a project made by npm init -y (CommonJS), a CommonJS .js module, a .ts and a .mts module pass", async () => {
    const r = await runs.commonjs;
    for (const name of ["cjs-js", "cjs-ts", "cjs-mts"])
      expect(r.out).toContain(`${name}: 1 passed, 0 failed`);
    expect(r.code).toBe(0);
  });

  test("in a folder with no package.json, a CommonJS .js module, a .ts and a .mjs module pass", async () => {
    const r = await runs.bare;
    for (const name of ["bare-js", "bare-ts", "bare-mjs"])
      expect(r.out).toContain(`${name}: 1 passed, 0 failed`);
    expect(r.code).toBe(0);
  });

  test("the shipped types check an adapter under the user's own compiler settings", async () => {
    const r = await runs.tsc;
    // Exactly one error, in the adapter that deserves it: the package's own files type-check.
    expect(r.out.trim().split("\n")[0]).toMatch(
      /^wrong\.ts\(2,\d+\): error TS2820: Type '"float16"'/,
    );
    expect(r.out).not.toContain("node_modules");
    expect(r.code).toBe(2);
  });
});

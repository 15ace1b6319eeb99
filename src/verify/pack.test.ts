/**
 * The package as a user gets it: `npm pack`, install the tarball into a fresh project (from the
 * npm cache where it can, the registry otherwise), write a TypeScript adapter there, type-check it against the shipped
 * types and run `npx tensorlaws verify` on it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "tensorlaws-pack-"));
const project = join(dir, "project");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The outer `npm test` leaves npm_* settings in the environment; the user's npm has its own.
const env: Record<string, string> = { npm_config_prefer_offline: "true", NO_COLOR: "1" };
for (const [k, v] of Object.entries(process.env)) {
  if (v !== undefined && !k.toLowerCase().startsWith("npm_")) env[k] = v;
}

function sh(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const softmax = (shift: boolean) => `import type { Backend, Tensor } from "tensorlaws";

function softmax({ x }: { x: Tensor }): Tensor {
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

const backend: Backend = { name: "${shift ? "mine" : "naive"}", dtype: "float32", kernels: { softmax } };
export default backend;
`;

beforeAll(() => {
  execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: root, env });
  const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  if (!tgz) throw new Error(`npm pack wrote no tarball in ${dir}`);
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "user-project", private: true, type: "module" }),
  );
  // --prefer-offline: the cache when it has the package, the registry for what it lacks.
  const install = ["install", "--prefer-offline", "--no-audit", "--no-fund", "-D", join(dir, tgz)];
  const r = sh("npm", install, project);
  if (r.code !== 0) throw new Error(`npm install of the tarball failed:\n${r.out}`);
  writeFileSync(join(project, "adapter.ts"), softmax(true));
  writeFileSync(join(project, "naive.ts"), softmax(false));
}, 60_000);

describe("the packed package in a user's project", () => {
  test("npx tensorlaws verify passes a correct softmax adapter written in TypeScript", () => {
    const r = sh("npx", ["tensorlaws", "verify", "./adapter.ts", "--laws", "B1,B2"], project);
    expect(r.out).toContain("mine: 2 passed, 0 failed");
    expect(r.code).toBe(0);
  });

  test("npx tensorlaws verify fails a softmax that overflows, naming the law", () => {
    const r = sh("npx", ["tensorlaws", "verify", "./naive.ts", "--laws", "B1,B2"], project);
    expect(r.out).toContain("✗ B1 on naive:");
    expect(r.code).toBe(1);
  });

  test("the shipped types check an adapter under the user's own compiler settings", () => {
    writeFileSync(
      join(project, "wrong.ts"),
      `import type { Backend } from "tensorlaws";\nexport const b: Backend = { name: "w", dtype: "float16", kernels: {} };\n`,
    );
    writeFileSync(
      join(project, "tsconfig.json"),
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
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const r = sh(process.execPath, [tsc, "-p", "."], project);
    // Exactly one error, in the adapter that deserves it: the package's own files type-check.
    expect(r.out.trim().split("\n")[0]).toMatch(
      /^wrong\.ts\(2,\d+\): error TS2820: Type '"float16"'/,
    );
    expect(r.out).not.toContain("node_modules");
    expect(r.code).toBe(2);
  });
});

/**
 * loadBackend on every kind of module a user may hand to `tensorlaws verify`: TypeScript and
 * JavaScript, ES modules and CommonJS, in a `"type": "module"` package, a `"type": "commonjs"`
 * one (what `npm init -y` writes) and a folder with no package.json; and the messages for a
 * module that really is broken. The installed package is src/verify/pack.test.ts's.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { BackendModuleError, loadBackend } from "./backends.ts";

const dir = mkdtempSync(join(tmpdir(), "tensorlaws-load-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kernel = (typed: boolean) =>
  `function neg({ x }${typed ? ": { x: Tensor }): Tensor" : ")"} {
  return { shape: [...x.shape], data: x.data.map((v${typed ? ": number" : ""}) => -v) };
}
`;
const literal = (name: string) => `{ name: "${name}", dtype: "float32", kernels: { neg } }`;
const tsHeader = `import type { Backend, Tensor } from "tensorlaws";\n`;
// Type annotations and no import at all: nothing tells a loader that this is an ES module.
const tsNoImport = (name: string) =>
  `type Tensor = { shape: number[]; data: Float32Array };\n${kernel(true)}const backend: { name: string; dtype: "float32"; kernels: object } = ${literal(name)};\nexport default backend;\n`;

/** The backend modules of each kind, by file name, each naming its backend after itself. */
function modules(pkgType: "module" | "commonjs" | undefined): Record<string, string> {
  const esm = (name: string) => `${kernel(false)}export default ${literal(name)};\n`;
  const cjs = (name: string) => `${kernel(false)}module.exports = ${literal(name)};\n`;
  const ts = (name: string) =>
    `${tsHeader}${kernel(true)}const backend: Backend = ${literal(name)};\nexport default backend;\n`;
  return {
    "a.ts": ts("a.ts"),
    "b.ts": tsNoImport("b.ts"),
    "c.mts": ts("c.mts"),
    "d.cts": `${tsHeader}${kernel(true)}const backend: Backend = ${literal("d.cts")};\nexport = backend;\n`,
    "e.js": pkgType === "module" ? esm("e.js") : cjs("e.js"),
    "f.mjs": esm("f.mjs"),
    "g.cjs": cjs("g.cjs"),
    // A compiled file next to its source: the .js is what was asked for.
    "h.js": pkgType === "module" ? esm("h.js") : cjs("h.js"),
    "h.ts": ts("h.ts"),
  };
}

const folders = { module: "module", commonjs: "commonjs", none: undefined } as const;
for (const [folder, pkgType] of Object.entries(folders)) {
  mkdirSync(join(dir, folder));
  if (pkgType)
    writeFileSync(
      join(dir, folder, "package.json"),
      JSON.stringify({ name: folder, type: pkgType }),
    );
  for (const [file, text] of Object.entries(modules(pkgType)))
    writeFileSync(join(dir, folder, file), text);
}

// .ts and .js follow the package's type; .mts, .cts, .mjs and .cjs name their module system
// themselves, so they are loaded once, where a loader is likeliest to get them wrong.
const kinds = {
  module: ["a.ts", "b.ts", "e.js", "h.js"],
  commonjs: ["a.ts", "b.ts", "c.mts", "d.cts", "e.js", "f.mjs", "g.cjs", "h.js"],
  none: ["a.ts", "b.ts", "e.js", "h.js"],
};

describe.each(Object.keys(folders))("in a package of type %s", (folder) => {
  test.each(kinds[folder as keyof typeof kinds])(
    "%s loads as the backend it exports",
    async (file) => {
      const b = await loadBackend(join(dir, folder, file));
      expect(b.name).toBe(file);
      const y = await b.kernels.neg?.({ x: { shape: [2], data: new Float32Array([1, -2]) } }, {});
      expect(Array.from(y?.data ?? [])).toEqual([-1, 2]);
    },
  );
});

describe("a module that really is broken is named with the reason", () => {
  const broken = join(dir, "broken");
  mkdirSync(broken);
  const files: Record<string, string> = {
    "syntax.ts": "const x: = 1;\nexport default x;\n",
    "throws.ts": `throw new Error("boom at load");\n`,
    "named.ts": "export const b = 1;\nexport const c = 2;\n",
    "named.cjs": "exports.foo = 1;\n",
    "missing.mts": `import "tensorlaws-no-such-package";\nexport default 1;\n`,
    "rejects.mjs": `export default Promise.reject(new RangeError("no device"));\n`,
  };
  for (const [file, text] of Object.entries(files)) writeFileSync(join(broken, file), text);

  test.each([
    ["nothing.ts", /: no such file \(/],
    ["syntax.ts", /: importing the module failed: TransformError: .*syntax\.ts:1:9: ERROR/s],
    ["throws.ts", /: importing the module failed: Error: boom at load$/],
    ["named.ts", /: the module has no default export \(it exports b, c\); export the backend/],
    ["named.cjs", /: the default export is an object with keys \[foo\], not a backend/],
    ["missing.mts", /: importing the module failed: Error: Cannot find package 'tensorlaws-no/],
    ["rejects.mjs", /: the default export is a promise that rejected: RangeError: no device$/],
  ])("%s: %s", async (file, message) => {
    const path = join(broken, file);
    const error = await loadBackend(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BackendModuleError);
    expect((error as BackendModuleError).message.startsWith(`${path}: `)).toBe(true);
    expect((error as BackendModuleError).message).toMatch(message);
  });
});

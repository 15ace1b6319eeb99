/**
 * The command's own module hooks (src/loader/): they run this package's TypeScript, point stack
 * traces at its .ts lines, and leave every file outside the package to Node (or to tsx's scoped
 * import, for a user's module).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";

const register = join(import.meta.dirname, "register.mjs");
const tensorTs = join(import.meta.dirname, "..", "engine", "tensor.ts");
const outside = mkdtempSync(join(tmpdir(), "tensorlaws-hooks-"));
afterAll(() => rmSync(outside, { recursive: true, force: true }));

/** Runs `code` as an ES module in a fresh Node with only our hooks registered. */
const node = (code: string, ...flags: string[]) =>
  spawnSync(process.execPath, [...flags, "--import", register, "--input-type=module", "-e", code], {
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: "" },
  });

describe("the command's module hooks", () => {
  test("import this package's TypeScript sources, with stack traces at their .ts lines under --enable-source-maps", () => {
    const r = node(
      `
      const { tensor } = await import(${JSON.stringify(tensorTs)});
      try { tensor("float32", [2], [1]); } catch (e) { console.log(e.stack.split("\\n")[1]); }
    `,
      "--enable-source-maps",
    );
    // The line of the throw in the source, not in the compiled text (types and comments gone).
    const lines = readFileSync(tensorTs, "utf8").split("\n");
    const message = lines.findIndex((l) => l.includes("do not fill shape"));
    let line = message;
    while (!lines[line].includes("throw ")) line--;
    line += 1;
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`tensor.ts:${line}:`);
  });

  test("leave a TypeScript file outside the package to Node, which refuses it", () => {
    const file = join(outside, "mine.ts");
    writeFileSync(file, "export const x: number = 1;\n");
    const r = node(`await import(${JSON.stringify(file)});`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('Unknown file extension ".ts"');
  });
});

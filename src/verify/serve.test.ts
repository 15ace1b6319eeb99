import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { type Io, main } from "./cli.ts";

async function run(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    outIsTTY: false,
    errIsTTY: false,
    env: { TENSORLAWS_WEBGPU: "0" },
  };
  return { code: await main(args, io), out, err };
}

describe("tensorlaws serve", () => {
  test("--help says what the page does and exits 0", async () => {
    const { code, out } = await run(["serve", "--help"]);
    expect(code).toBe(0);
    expect(out).toContain("runs the laws in your browser, on your GPU");
  });

  test("a bad port or an unknown option is bad usage (exit 2)", async () => {
    expect((await run(["serve", "--port", "http"])).code).toBe(2);
    const unknown = await run(["serve", "--colour"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("--colour");
  });

  test("--write FILE writes the page as one self-contained HTML file with the examples built in", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "tensorlaws-serve-")), "page.html");
    const { code, out } = await run(["serve", "--write", file]);
    expect(code).toBe(0);
    expect(out).toBe(`wrote ${file}\n`);
    const html = readFileSync(file, "utf8");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect(html).toContain("without subtracting the row max");
  }, 60_000);
});

// Node module hooks (registered by ./register.mjs) that run this package's own TypeScript sources:
// each .ts file under the package root is compiled by esbuild once, kept in a cache folder keyed
// by its name and contents, and read from there by every later process. A backend module (a
// user's, or a built-in) is not theirs to load: it goes through tsx's scoped import (loadBackend
// in src/verify/backends.ts), which compiles it for whatever module system its package gives it.
//
// Why not tsx's global loader: it cost each process 0.4 s of CPU to start (`node --import tsx -e
// 0`: 0.50 s against 0.10 s bare), and `verify` starts a process per backend module, per respawn
// and per helper. These hooks cost 0.07 s; our sources need none of tsx's extras (every relative
// import names its .ts file, all of it is ES modules).
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = new URL("../../", import.meta.url).href;
const rootPath = fileURLToPath(root);
const cache = join(tmpdir(), "tensorlaws-js");
// What the compiled text depends on besides the source: a change here must not read old entries.
const OPTIONS = {
  loader: "ts",
  format: "esm",
  target: "node20",
  sourcemap: "inline",
  tsconfigRaw: { compilerOptions: { target: "ES2022", verbatimModuleSyntax: true } },
};
let esbuild;

export async function load(url, context, next) {
  // A query or hash (an importer may add one to get a fresh instance) is not part of the file.
  const path = url.startsWith(root) ? fileURLToPath(url.replace(/[?#].*$/, "")) : "";
  // Installed, this package is itself under a node_modules; its own dependencies are not ours.
  if (!path.endsWith(".ts") || path.includes("/node_modules/", rootPath.length))
    return next(url, context);
  const source = readFileSync(path, "utf8");
  // The source map names the file by its base name, which Node resolves next to the module: the
  // compiled text depends on the contents and that name only, so a copy of the package (a packed
  // and installed one) reads the entries its original wrote.
  const name = basename(path);
  const key = createHash("sha1")
    .update(JSON.stringify(OPTIONS))
    .update(name)
    .update("\0")
    .update(source)
    .digest("hex");
  const file = join(cache, `${key}.mjs`);
  let code;
  try {
    code = readFileSync(file, "utf8");
  } catch {
    esbuild ??= await import("esbuild");
    code = esbuild.transformSync(source, { ...OPTIONS, sourcefile: name }).code;
    // Written whole under another name, then renamed: a process starting beside this one reads
    // the old state or the new file, never half of it.
    // A cache that cannot be written (a read-only or foreign temporary folder) only costs time.
    try {
      mkdirSync(cache, { recursive: true });
      const part = `${file}.${process.pid}.part`;
      writeFileSync(part, code);
      renameSync(part, file);
    } catch {}
  }
  return { format: "module", source: code, shortCircuit: true };
}

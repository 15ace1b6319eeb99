/**
 * Builds the page of `tensorlaws serve` into one self-contained HTML string: main.ts and
 * everything it imports (the laws, the engine, the WebGPU backend, the WGSL adapter, the runner,
 * the view with Observable Plot), bundled by esbuild with the examples and golden files inlined.
 *
 * The shared code imports a few Node modules for things the page never does (reading a backend
 * module, forking a child, writing the ledger): esbuild gets stand-ins that do the little the
 * page needs (the package version, the pasted shader) and throw otherwise.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";
import { bundleForBrowser } from "../report/html.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../../..");
const browserGoldens = join(root, "golden/load.browser.ts");

/** CommonJS stand-ins (esbuild reads their names at run time, so any import compiles). */
function nodeStandIn(name: string, version: string): string {
  const impl: Record<string, string> = {
    "node:fs": `{
      readFileSync: (p) => { if (String(p).endsWith("package.json")) return ${JSON.stringify(JSON.stringify({ version }))}; throw new Error("no file system in a browser: " + p); },
      existsSync: () => false,
    }`,
    "node:fs/promises": `{
      readFile: async (p) => { const s = globalThis.tensorlawsPageFiles?.shaders[p]; if (s === undefined) { const e = new Error("ENOENT: " + p); e.code = "ENOENT"; throw e; } return s; },
    }`,
    "node:path": `{
      basename: (p) => String(p).split("/").pop(),
      dirname: (p) => String(p).split("/").slice(0, -1).join("/") || "/",
      join: (...p) => p.join("/"),
      resolve: (...p) => p.join("/"),
      relative: (a, b) => b,
    }`,
    "node:url": `{
      fileURLToPath: (u) => String(u).replace(/^file:\\/\\//, ""),
      pathToFileURL: (p) => new URL("file://" + p),
    }`,
  };
  return `const impl = ${impl[name] ?? "{}"};
module.exports = new Proxy(impl, {
  get: (t, k) => k in t ? t[k] : k === "__esModule" || typeof k !== "string" ? undefined
    : () => { throw new Error(${JSON.stringify(name)} + "." + k + " is not available in a browser"); },
});`;
}

function goldenFiles(): string {
  const dir = join(root, "golden");
  const entries = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => `${JSON.stringify(`./${f}`)}: ${readFileSync(join(dir, f), "utf8")}`);
  return `{${entries.join(",\n")}}`;
}

function browserPlugin(version: string): Plugin {
  return {
    name: "tensorlaws-page",
    setup(build) {
      build.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: "node-stand-in" }));
      build.onLoad({ filter: /.*/, namespace: "node-stand-in" }, (a) => ({
        contents: nodeStandIn(a.path, version),
        loader: "js",
      }));
      // Loading a user's TypeScript module (backends.ts): never from the page.
      build.onResolve({ filter: /^(tsx|esbuild)(\/|$)/ }, (a) => ({
        path: a.path,
        namespace: "node-stand-in",
      }));
      // Dawn's Node binding: imported only when no GPU object is given, never in the page.
      build.onResolve({ filter: /^webgpu$/ }, () => ({ path: "webgpu", external: true }));
      build.onResolve({ filter: /(^|\/)load\.ts$/ }, (a) =>
        a.importer.endsWith("load.browser.ts") ||
        !join(a.resolveDir, a.path).endsWith("golden/load.ts")
          ? undefined
          : { path: browserGoldens },
      );
      // Vite's import.meta.glob, which load.browser.ts uses, as the object it stands for.
      build.onLoad({ filter: /golden\/load\.browser\.ts$/ }, (a) => ({
        contents: readFileSync(a.path, "utf8").replace(
          /import\.meta\.glob<GoldenFile>\([^)]*\)/,
          goldenFiles(),
        ),
        loader: "ts",
      }));
    },
  };
}

function examples(): Record<string, string> {
  const dir = join(root, "examples");
  // A package installed without examples/ still serves the page, with nothing to load.
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith(".wgsl"))
      .sort()
      .map((f) => [f.replace(/\.wgsl$/, ""), readFileSync(join(dir, f), "utf8")]),
  );
}

let built: Promise<string> | undefined;

/** The page as one HTML document (built once per process: a few seconds). */
export function buildPage(): Promise<string> {
  built ??= (async () => {
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      version: string;
    };
    const entry = `import ${JSON.stringify(join(here, "main.ts"))};`;
    const script = await bundleForBrowser(entry, here, [browserPlugin(version)], {
      "import.meta.url": JSON.stringify(`file://${join(root, "src/verify/page/main.ts")}`),
      __TENSORLAWS_EXAMPLES__: JSON.stringify(examples()),
    });
    return `<!doctype html>
<html lang="en">
<head id="head">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tensorlaws: the laws on your GPU</title>
</head>
<body>
<div id="app"></div>
<script type="module">${script.replace(/<\/(script)/gi, "<\\/$1")}</script>
</body>
</html>
`;
  })();
  return built;
}

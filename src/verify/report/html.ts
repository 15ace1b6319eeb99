/**
 * `tensorlaws verify --html FILE`: the report as one self-contained HTML file. The view
 * (view.ts) and Observable Plot with its d3 are bundled by esbuild and
 * inlined with the data, so the file opens offline, from disk, with no network at all.
 */
import { fileURLToPath } from "node:url";
import { measure } from "../../../golden/ledger.ts";
import type { Backend } from "../../engine/contract.ts";
import { cpu32 } from "../../engine/cpu/index.ts";
import { computePictures, type PictureOptions, type Pictures } from "./pictures.ts";
import type { Report } from "./schema.ts";
import { type LedgerRow, type ViewData, viewCss } from "./view.ts";

const viewModule = fileURLToPath(new URL("./view.ts", import.meta.url));

/**
 * Bundles a browser entry (TypeScript source) with everything it imports into one minified
 * script. `plugins` lets the page swap Node-only modules for browser ones.
 */
export async function bundleForBrowser(
  contents: string,
  resolveDir: string,
  plugins: import("esbuild").Plugin[] = [],
  define: Record<string, string> = {},
): Promise<string> {
  const esbuild = await import("esbuild");
  const out = await esbuild.build({
    stdin: { contents, resolveDir, loader: "ts", sourcefile: "entry.ts" },
    bundle: true,
    // ESM: top-level await (golden/ledger.ts) is allowed; the pages inline it as a module script.
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
    legalComments: "none",
    logLevel: "silent",
    plugins,
    define,
  });
  return out.outputFiles[0].text;
}

let viewBundle: Promise<string> | undefined;

/** The view and Plot as one script that draws `#tensorlaws-data` into `#tensorlaws-root`. */
export function viewScript(): Promise<string> {
  viewBundle ??= bundleForBrowser(
    `import { renderView } from ${JSON.stringify(viewModule)};
const data = JSON.parse(document.getElementById("tensorlaws-data").textContent);
renderView(document.getElementById("tensorlaws-root"), data, document);`,
    fileURLToPath(new URL(".", import.meta.url)),
  );
  return viewBundle;
}

/** Numbers cut to 6 significant digits: the plots need no more, and the file stays small. */
function compactJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    typeof v === "number" && Number.isFinite(v) && !Number.isInteger(v)
      ? Number(v.toPrecision(6))
      : v,
  );
}

/** `</script>` inside the data must not end the script element (in the code, `<\/script` is the
 * same string to JavaScript, and `</script` only appears inside strings). */
const scriptSafe = (s: string): string =>
  s
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");

/** The whole page: data, view and stylesheet in one file. */
export async function htmlReport(
  report: Report,
  extras: Omit<ViewData, "report">,
): Promise<string> {
  const data: ViewData = { report, ...extras };
  const script = await viewScript();
  const title = `tensorlaws report: ${report.ok ? "all laws pass" : `${report.totals.failed} failed`}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${viewCss}</style>
</head>
<body>
<h1>${title}</h1>
<main id="tensorlaws-root"></main>
<script type="application/json" id="tensorlaws-data">${scriptSafe(compactJson(data))}</script>
<script type="module">${script.replace(/<\/(script)/gi, "<\\/$1")}</script>
</body>
</html>
`;
}

/** The ULP ledger of each backend (golden/ledger.ts); a backend whose kernel breaks on a
 * golden case is left out (its laws already say why). */
export async function ledgerRows(backends: readonly Backend[]): Promise<LedgerRow[]> {
  const rows: LedgerRow[] = [];
  for (const backend of backends) {
    try {
      for (const [op, w] of await measure(backend)) {
        rows.push({
          op,
          backend: backend.name,
          ulps: Number.isFinite(w.ulps) ? w.ulps : "Infinity",
          where: w.where,
          budgetUsed: Number.isFinite(w.budgetUsed) ? w.budgetUsed : "Infinity",
        });
      }
    } catch {
      // A kernel that throws on a golden case fails law I4.<op>, which the report shows.
    }
  }
  return rows;
}

/** What the HTML report adds to a Report: the ledger of its backends and the notes' pictures,
 * computed on cpu32 (float32 kernels that round exactly). */
export async function htmlExtras(
  backends: readonly Backend[],
  pictureBackend: Backend = cpu32,
  pictureOptions: PictureOptions = {},
): Promise<Omit<ViewData, "report">> {
  const pictures: Pictures = await computePictures(pictureBackend, pictureOptions);
  return { ledger: await ledgerRows(backends), pictures };
}

/**
 * The page of `tensorlaws serve`: runs the laws on the visitor's own GPU, in their browser, with
 * the same runner and report as `tensorlaws verify` (verify.ts): our WebGPU backend on
 * navigator.gpu, or a WGSL shader they paste or drop in (wgsl-adapter.ts). Shows progress, the
 * verdicts with counterexamples (view.ts, as in the HTML report) and offers the JSON report.
 *
 * Bundled for the browser by build.ts, which swaps the few Node modules the shared code imports
 * for browser stand-ins (node-shims.ts). Browser code: the DOM is reached through the small
 * interfaces below (the project's types are Node's).
 */
import "./process-shim.ts";
import type { Backend } from "../../engine/contract.ts";
import { createWebGpuBackend } from "../../engine/webgpu/index.ts";
import { htmlExtras } from "../report/html.ts";
import { jsonReport } from "../report/json.ts";
import type { Report } from "../report/schema.ts";
import { type Dom, type DomElement, renderView, viewCss } from "../report/view.ts";
import { selectLaws, verify } from "../verify.ts";
import { createWgslBackend, WGSL_OPS, wgslConvention } from "../wgsl-adapter.ts";
import { pageFiles } from "./files.ts";

interface Input extends DomElement {
  value: string;
  checked: boolean;
  disabled: boolean;
  files: ArrayLike<{ name: string; text(): Promise<string> }> | null;
  addEventListener(type: string, listener: (event: PageEvent) => void): void;
}
interface PageEvent {
  preventDefault(): void;
  dataTransfer?: { files: ArrayLike<{ name: string; text(): Promise<string> }> };
}
interface PageDocument extends Dom {
  getElementById(id: string): Input;
  title: string;
}
interface PageWindow {
  document: PageDocument;
  navigator: { gpu?: GPU; userAgent: string };
  location: { search: string };
  URL: { createObjectURL(blob: Blob): string };
  /** Set when a run ends: the report, for scripts and tests. */
  tensorlawsReport?: Report;
}

const win = globalThis as unknown as PageWindow;
const doc = win.document;
const $ = (id: string): Input => doc.getElementById(id);

const esc = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] ?? c);

/** The examples shipped in examples/, inlined by build.ts: the page works offline. */
const examples = pageFiles.examples;

function setup(): void {
  const style = doc.createElement("style");
  style.textContent = `${viewCss}
#controls { display: grid; gap: 0.6em; max-width: 60em; }
textarea { width: 100%; height: 16em; font: 12px monospace; }
#drop { border: 2px dashed #aaa; padding: 0.6em; color: #555; }
#progress { width: 30em; } #status { font-family: monospace; }
button { font-size: 1em; padding: 0.3em 1em; }`;
  doc.getElementById("head").append(style);
  const ops = Object.keys(WGSL_OPS)
    .map((op) => `<option value="${op}"${op === "softmax" ? " selected" : ""}>${op}</option>`)
    .join("");
  const exampleButtons = Object.keys(examples)
    .map((name) => `<button type="button" data-example="${esc(name)}">${esc(name)}</button>`)
    .join(" ");
  $("app").innerHTML = `
<h1>tensorlaws: the laws of deep-learning numerics, on your GPU</h1>
<p id="adapter">Looking for a WebGPU adapter…</p>
<div id="controls">
  <label><input type="radio" name="kernel" id="kernel-builtin" checked> tensorlaws' own WebGPU backend (every op)</label>
  <label><input type="radio" name="kernel" id="kernel-wgsl"> your WGSL shader as the kernel of
    <select id="op">${ops}</select></label>
  <div id="wgsl-box">
    <div id="drop">Paste the shader below, drop a .wgsl file here, or load an example: ${exampleButtons}
      <input type="file" id="file" accept=".wgsl,text/plain"></div>
    <textarea id="source" spellcheck="false" placeholder="@group(0) @binding(0) var&lt;storage, read&gt; x: array&lt;f32&gt;; …"></textarea>
    <details><summary>binding convention for this op</summary><pre id="convention"></pre></details>
  </div>
  <label>Laws <input id="laws" value="" placeholder="all (or e.g. B1,B5*,I4.*)"></label>
  <label>Cases per property <input id="runs" type="number" min="1" value="25"></label>
  <div><button id="run" type="button">Run the laws</button> <button id="download" type="button" disabled>Download the JSON report</button></div>
  <div><progress id="progress" value="0" max="1"></progress> <span id="status"></span></div>
</div>
<div id="results"></div>`;
  const showConvention = () => {
    $("convention").textContent = wgslConvention($("op").value as keyof typeof WGSL_OPS);
  };
  $("op").addEventListener("change", showConvention);
  showConvention();
  for (const b of Array.from($("drop").querySelectorAll("button[data-example]")) as Input[]) {
    b.addEventListener("click", () => {
      const name = (b as unknown as { dataset: { example: string } }).dataset.example;
      $("source").value = examples[name];
      $("kernel-wgsl").checked = true;
      if (name.startsWith("softmax")) $("op").value = "softmax";
      if (name.startsWith("matmul")) $("op").value = "matmul";
      if (name.startsWith("relu")) $("op").value = "relu";
      showConvention();
    });
  }
  const load = async (files: ArrayLike<{ name: string; text(): Promise<string> }> | null) => {
    const f = files?.[0];
    if (!f) return;
    $("source").value = await f.text();
    $("kernel-wgsl").checked = true;
  };
  $("file").addEventListener("change", () => void load($("file").files));
  $("drop").addEventListener("dragover", (e) => e.preventDefault());
  $("drop").addEventListener("drop", (e) => {
    e.preventDefault();
    void load(e.dataTransfer?.files ?? null);
  });
  $("run").addEventListener("click", () => void run());
}

async function describeAdapter(): Promise<void> {
  const gpu = win.navigator.gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  $("adapter").textContent = adapter
    ? `WebGPU adapter: ${[adapter.info.vendor, adapter.info.architecture, adapter.info.description].filter(Boolean).join(" ") || "(unnamed)"}`
    : "This browser gives no WebGPU adapter (navigator.gpu is missing or found none): the laws cannot run on the GPU here. Chrome and Edge have WebGPU; Firefox and Safari in recent versions.";
}

let report: Report | undefined;

/**
 * The backend whose ULP ledger the page measures: all of it, or with `?ledger=softmax,exp` in the
 * page's address only those ops (the test of the page's wiring: tensorlaws' own backend has
 * every op, and their golden cases compile every kernel, seconds on a software adapter).
 */
function ledgerOf(backend: Backend): Backend {
  const only = new URLSearchParams(win.location.search).get("ledger");
  if (only === null) return backend;
  const ops = new Set(only.split(",").map((s) => s.trim()));
  const kernels = Object.fromEntries(Object.entries(backend.kernels).filter(([op]) => ops.has(op)));
  return { ...backend, kernels };
}

async function backendOf(gpu: GPU): Promise<{ backend: Backend; args: string[] }> {
  if (!$("kernel-wgsl").checked) {
    const backend = await createWebGpuBackend({ gpu });
    if (!backend) throw new Error("navigator.gpu found no adapter");
    return { backend, args: ["--builtin", "webgpu"] };
  }
  const op = $("op").value as keyof typeof WGSL_OPS;
  const path = `${op}.wgsl`;
  // wgsl-adapter.ts reads shaders with readFile: the page's stand-in reads this map.
  pageFiles.shaders[path] = $("source").value;
  const backend = await createWgslBackend([{ op, path }], { gpu, name: `wgsl(${op}, pasted)` });
  return { backend, args: ["--wgsl", `${op}=${path}`] };
}

async function run(): Promise<void> {
  const gpu = win.navigator.gpu;
  const status = $("status");
  const progress = $("progress") as Input & { value: string; max: number };
  const results = $("results");
  if (!gpu) {
    status.textContent = "no WebGPU in this browser";
    return;
  }
  $("run").disabled = true;
  $("download").disabled = true;
  results.innerHTML = "";
  let opened: Backend | undefined;
  try {
    status.textContent = "compiling…";
    const { backend, args } = await backendOf(gpu);
    opened = backend;
    const filter = $("laws")
      .value.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const selection = filter.length ? { laws: filter } : {};
    const laws = selectLaws(selection);
    const numRuns = Math.max(1, Math.floor(Number($("runs").value) || 25));
    report = await verify([{ backend, args }], {
      laws,
      selection,
      numRuns,
      onProgress: (p) => {
        progress.max = p.total;
        progress.value = String(p.done);
        status.textContent = `[${p.done}/${p.total}] ${p.backend} ${p.law.id}: ${p.status}`;
      },
    });
    const t = report.totals;
    const summary = `${report.ok ? "passed" : "FAILED"}: ${t.passed} passed, ${t.failed} failed, ${t.notImplemented} not implemented, ${t.notApplicable} not applicable`;
    win.tensorlawsReport = report;
    $("download").disabled = false;
    // The same view as the HTML report: the golden cases on this backend, and the pictures.
    status.textContent = "measuring the ULP ledger and drawing the notes' pictures…";
    renderView(results, { report, ...(await htmlExtras([ledgerOf(backend)])) }, doc);
    status.textContent = summary;
  } catch (e) {
    status.textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
    console.error(e);
  } finally {
    (opened as { dispose?: () => void } | undefined)?.dispose?.();
    $("run").disabled = false;
  }
}

function download(): void {
  if (!report) return;
  const url = win.URL.createObjectURL(new Blob([jsonReport(report)], { type: "application/json" }));
  const a = doc.createElement("a") as DomElement & {
    href: string;
    download: string;
    click(): void;
  };
  a.href = url;
  a.download = "tensorlaws-report.json";
  a.click();
}

setup();
$("download").addEventListener("click", download);
void describeAdapter();

/**
 * The report as people look at it, in a browser: the verdict of every law on every backend
 * (worst error, budget, counterexample, replay command), how much of each op's budget each
 * backend used, the ULP ledger and the notes' pictures, drawn with Observable Plot. The HTML
 * report (html.ts) inlines this module, bundled with Plot, and calls `renderView` on its
 * embedded data; the page of `tensorlaws serve` calls it on the report it just made.
 *
 * Browser code: the project's types are Node's (no DOM lib), so the few DOM calls made here go
 * through the small `Dom` interface below.
 */
import * as Plot from "@observablehq/plot";
import type { Pictures } from "./pictures.ts";
import type { BackendReport, BudgetUseReport, LawReport, Report } from "./schema.ts";

/** One row of the ULP ledger (golden/ledger.ts): the worst golden case of an op on a backend. */
export interface LedgerRow {
  op: string;
  backend: string;
  ulps: number | "Infinity";
  where: string;
  /** Largest |error| / tolerance over the op's golden cases. */
  budgetUsed: number | "Infinity";
}

export interface ViewData {
  report: Report;
  ledger: LedgerRow[];
  pictures: Pictures | null;
}

/** The DOM as far as this view uses it. */
export interface DomElement {
  innerHTML: string;
  textContent: string | null;
  append(...nodes: (DomElement | string)[]): void;
  setAttribute(name: string, value: string): void;
  querySelectorAll(selector: string): ArrayLike<DomElement>;
}
export interface Dom {
  createElement(tag: string): DomElement;
}

const esc = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

const num = (x: number | string): number =>
  typeof x === "number"
    ? x
    : x === "Infinity"
      ? Number.POSITIVE_INFINITY
      : x === "-Infinity"
        ? Number.NEGATIVE_INFINITY
        : Number.NaN;

const fmt = (x: number | string, digits = 3): string => {
  const v = num(x);
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5
    ? String(Number(v.toPrecision(digits)))
    : v.toExponential(digits - 1);
};

const pct = (x: number | string): string => {
  const v = num(x);
  return Number.isFinite(v) ? `${Number((v * 100).toPrecision(2))} %` : "∞";
};

/** The largest share of its budget a law used on any op (null when it compared none). */
const lawShare = (r: LawReport): number | null =>
  r.budgetUse.length ? Math.max(...r.budgetUse.map((u) => num(u.max))) : null;

function cell(r: LawReport | undefined): string {
  if (!r) return `<td class="none">–</td>`;
  const share = lawShare(r);
  const used = share === null ? "" : `<div class="share">worst: ${pct(share)} of the budget</div>`;
  if (r.status !== "failed") {
    const missing = r.missing.length ? ` (lacks ${esc(r.missing.join(", "))})` : "";
    return `<td class="${r.status.replace(" ", "-")}"><b>${r.status}</b>${missing}${used}</td>`;
  }
  const f = r.failure;
  const parts = [`<b>failed</b> <span class="kind">${esc(f?.kind ?? "")}</span>`];
  const w = f?.worst;
  if (w) {
    parts.push(
      `<div class="worst">${w.failing} of ${w.total} outside; worst at [${w.coord.join(", ")}]: ` +
        `${fmt(w.actual, 9)} vs ${fmt(w.expected, 9)}, |diff| ${fmt(w.abs)} &gt; tol ${fmt(w.tol)} ` +
        `(${fmt(w.ulps)} ULP)</div>`,
    );
    if (w.rule) parts.push(`<div class="rule">${esc(w.rule)}</div>`);
  }
  if (f?.budgets.length) {
    parts.push(
      `<div class="budget">budget: ${f.budgets
        .map(
          (b) =>
            `${esc(b.op)} ${b.ulps} ULP, factor ${b.factor}${b.overridden ? " (overridden)" : ""}`,
        )
        .join("; ")}</div>`,
    );
  }
  parts.push(
    `<details><summary>message, counterexample, replay</summary><pre>${esc(f?.message ?? "")}</pre>`,
  );
  if (f?.counterexample) {
    const c = f.counterexample;
    parts.push(
      `<div>counterexample (${c.shrunk ? `shrunk ${c.shrinks} times` : "not shrunk"}):</div><pre class="cx">${esc(c.value)}</pre>`,
    );
  }
  if (f) parts.push(`<div>replay:</div><pre class="replay">${esc(f.replay.command)}</pre>`);
  parts.push("</details>");
  return `<td class="failed">${parts.join("")}</td>`;
}

function verdictTable(report: Report, onlyFailed = false): string {
  const backends = report.backends;
  const byId = backends.map((b) => new Map(b.results.map((r) => [r.id, r])));
  const laws = new Map<string, LawReport>();
  for (const b of backends) for (const r of b.results) if (!laws.has(r.id)) laws.set(r.id, r);
  const head = backends.map((b) => `<th>${esc(b.description)}</th>`).join("");
  const rows = [...laws.values()].flatMap((law) => {
    const cells = byId.map((m) => cell(m.get(law.id))).join("");
    const failed = byId.some((m) => m.get(law.id)?.status === "failed");
    if (onlyFailed && !failed) return [];
    return `<tr class="${failed ? "row-failed" : ""}" data-law="${esc(law.id)}"><th class="law"><code>${esc(law.id)}</code> ${esc(law.title)}<div class="ops">${esc(law.topic)} · ${esc(law.ops.join(", "))}</div></th>${cells}</tr>`;
  });
  return `<table class="verdicts"><thead><tr><th>law</th>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function summary(report: Report): string {
  const rows = report.backends
    .map(
      (b: BackendReport) =>
        `<tr><th>${esc(b.description)}</th><td>${b.counts.passed}</td><td class="${b.counts.failed ? "failed" : ""}">${b.counts.failed}</td><td>${b.counts.notImplemented}</td><td>${b.counts.notApplicable}</td><td>${fmt(b.durationMs / 1000)} s</td></tr>`,
    )
    .join("");
  const s = report.settings;
  const notes = report.notes.map((n) => `<li>${esc(n)}</li>`).join("");
  return `<p class="verdict ${report.ok ? "ok" : "bad"}">${report.ok ? "Every law that applies passed." : `${report.totals.failed} law run${report.totals.failed === 1 ? "" : "s"} failed.`}</p>
<p>tensorlaws ${esc(report.tool.version)} · ${esc(report.startedAt)} · seed ${s.seed} · ${s.numRuns} cases per property · ${fmt(report.durationMs / 1000)} s</p>
<table class="summary"><thead><tr><th>backend</th><th>passed</th><th>failed</th><th>not implemented</th><th>not applicable</th><th>time</th></tr></thead><tbody>${rows}</tbody></table>${notes ? `<ul class="notes">${notes}</ul>` : ""}`;
}

const binLabel = (upTo: number): string =>
  upTo === 0 ? "exact" : Number.isFinite(upTo) ? `≤ ${fmt(upTo, 2)}` : "> 1 (outside)";

interface UseCell {
  backend: string;
  op: string;
  bin: string;
  share: number;
  calls: number;
  max: string;
}

function useCells(report: Report): UseCell[] {
  return report.backends.flatMap((b) =>
    b.budgetUse.flatMap((u: BudgetUseReport) =>
      u.histogram.map((h) => ({
        backend: b.name,
        op: u.op,
        bin: binLabel(num(h.upTo)),
        share: h.calls / u.calls,
        calls: h.calls,
        max: pct(u.max),
      })),
    ),
  );
}

/** Every bin label in order, so that the x axis runs from exact to outside. */
const binOrder = (): string[] => [
  "exact",
  ...Array.from({ length: 17 }, (_, i) => binLabel(10 ** ((i - 16) / 4))),
  binLabel(Number.POSITIVE_INFINITY),
];

type Figure = { id: string; title: string; caption: string; draw: () => unknown };

const lineFigure = (
  data: readonly { config: string; x: number; y: number }[],
  x: string,
  y: string,
  yType: "linear" | "log",
  extra: Plot.Markish[] = [],
  xType: "linear" | "log" = "linear",
) =>
  Plot.plot({
    width: 640,
    height: 300,
    x: { label: x, type: xType },
    y: { label: y, type: yType, grid: true },
    color: { legend: true },
    marks: [
      ...extra,
      Plot.line(data, { x: "x", y: "y", stroke: "config" }),
      Plot.dot(data, { x: "x", y: "y", stroke: "config", r: 2, tip: true }),
    ],
  });

function figures(data: ViewData): Figure[] {
  const { report, ledger, pictures: p } = data;
  const list: Figure[] = [];
  const cells = useCells(report);
  if (cells.length) {
    const ops = [...new Set(cells.map((c) => c.op))].sort();
    list.push({
      id: "budget-use",
      title: "How close to failing: each call's worst error as a share of its op's budget",
      caption:
        "Per op (rows) and backend (columns), the calls the laws compared with the float64 reference: the colour is the fraction of calls whose worst element used that share of the budget. A kernel near the right edge is near failing; beyond 1 it failed.",
      draw: () =>
        Plot.plot({
          width: Math.max(640, 360 * report.backends.length),
          height: 24 + 16 * ops.length,
          marginLeft: 140,
          marginBottom: 70,
          x: { domain: binOrder(), tickRotate: -45, label: "share of the budget" },
          y: { domain: ops, label: null },
          fx: { label: null },
          color: { type: "sqrt", scheme: "blues", legend: true, label: "fraction of calls" },
          marks: [
            Plot.cell(cells, {
              x: "bin",
              y: "op",
              fx: "backend",
              fill: "share",
              inset: 0.5,
              title: (c: UseCell) =>
                `${c.op} on ${c.backend}: ${c.calls} calls ${c.bin} (largest share ${c.max})`,
            }),
          ],
        }),
    });
  }
  if (ledger.length) {
    const rows = ledger.map((r) => ({
      ...r,
      used: Math.min(num(r.budgetUsed), 2),
      ulpsText: fmt(r.ulps),
    }));
    list.push({
      id: "ulp-ledger",
      title: "ULP ledger: the largest error on the golden cases",
      caption:
        "Per op and backend, the largest share of the op's budget used on any golden case (exact to 40 digits); the label is the worst error in ULPs of the backend's dtype. Beyond 1 (red rule) a golden case fails.",
      draw: () =>
        Plot.plot({
          width: 640,
          height: 30 + 16 * new Set(ledger.map((r) => r.op)).size,
          marginLeft: 140,
          x: {
            label: "share of the budget (capped at 2)",
            type: "sqrt",
            domain: [0, 2],
            grid: true,
          },
          y: { label: null },
          color: { legend: true },
          marks: [
            Plot.ruleX([1], { stroke: "red" }),
            Plot.dot(rows, {
              x: "used",
              y: "op",
              stroke: "backend",
              tip: true,
              title: (r: (typeof rows)[number]) =>
                `${r.op} on ${r.backend}: ${r.ulpsText} ULP at "${r.where}", ${pct(r.budgetUsed)} of the budget`,
            }),
          ],
        }),
    });
  }
  if (!p) return list;
  list.push(
    {
      id: "tanh-histograms",
      title: `tanh activations by layer (${p.depth} layers of ${p.width}, batch ${p.batch})`,
      caption:
        "With Xavier's gain 1 the activations shrink layer after layer towards the linear regime; tanh's gain 5/3 keeps their spread (notes: initialisation).",
      draw: () =>
        Plot.plot({
          width: 640,
          height: 60 * p.depth,
          x: { label: "activation" },
          y: { label: "share", axis: null },
          fy: { label: "layer" },
          fx: { label: null },
          marks: [
            Plot.rectY(p.tanhHistograms, {
              x1: "x0",
              x2: "x1",
              y: "share",
              fy: "layer",
              fx: "config",
              fill: "steelblue",
            }),
            Plot.ruleY([0]),
          ],
        }),
    },
    {
      id: "tanh-saturation",
      title: "tanh saturation by layer: share of activations with |a| > 0.99",
      caption: "Saturated units pass almost no gradient (tanh′ = 1 − tanh² ≈ 0).",
      draw: () => lineFigure(p.tanhSaturation, "layer", "saturated share", "linear"),
    },
    {
      id: "relu-histograms",
      title: "ReLU activations by layer: log10 of the positive values",
      caption:
        "He weights (std √(2/n)) keep the scale; weights of std 0.01 make the activations vanish and of std 1 explode, by a constant factor per layer (law D4c).",
      draw: () =>
        Plot.plot({
          width: 720,
          height: 60 * p.depth,
          x: { label: "log10(activation)" },
          y: { label: "share", axis: null },
          fy: { label: "layer" },
          fx: { label: null },
          marks: [
            Plot.rectY(p.reluHistograms, {
              x1: "x0",
              x2: "x1",
              y: "share",
              fy: "layer",
              fx: "config",
              fill: "darkorange",
            }),
            Plot.ruleY([0]),
          ],
        }),
    },
    {
      id: "relu-scale",
      title: "ReLU activation scale by layer (root mean square)",
      caption: "A straight line on a log axis: a constant factor per layer.",
      draw: () => lineFigure(p.reluScale, "layer", "RMS activation", "log"),
    },
    {
      id: "dead-relu",
      title: "Dead ReLU units by layer: units that output 0 for every example",
      caption:
        "He weights with a zero bias keep almost every unit alive; a negative bias kills more of them layer after layer.",
      draw: () => lineFigure(p.deadUnits, "layer", "dead share", "linear"),
    },
    {
      id: "gradient-norms",
      title: "Gradient norm ‖∂loss/∂W‖ by layer after one backward pass",
      caption:
        "Through a sigmoid stack the gradient shrinks by σ′ ≤ 1/4 per layer: the first layers barely learn (vanishing gradients).",
      draw: () => lineFigure(p.gradientNorms, "layer", "‖∂loss/∂W‖", "log"),
    },
    {
      id: "bn-running-mean",
      title: "Batch-norm running mean converging (true mean dashed)",
      caption:
        "running ← (1 − momentum)·running + momentum·batch statistic: a small momentum converges slowly but smoothly, a large one fast but noisily.",
      draw: () =>
        lineFigure(p.runningMean, "step", "running mean", "linear", [
          Plot.ruleY([p.trueMean], { strokeDasharray: "4,3" }),
        ]),
    },
    {
      id: "bn-running-var",
      title: "Batch-norm running variance converging (true variance dashed)",
      caption: "The running variance averages the unbiased batch variance (PyTorch's convention).",
      draw: () =>
        lineFigure(p.runningVar, "step", "running variance", "linear", [
          Plot.ruleY([p.trueVar], { strokeDasharray: "4,3" }),
        ]),
    },
    {
      id: "dropout-mean",
      title: "Inverted dropout: the mean of k passes converges to the input",
      caption:
        "RMS relative error of the mean of k passes; dashed, the prediction √(p / ((1 − p)·k)). Rescaling by 1/(1 − p) keeps the expectation (law E1).",
      draw: () =>
        lineFigure(
          p.dropoutError,
          "passes k",
          "RMS relative error",
          "log",
          [
            Plot.line(p.dropoutPredicted, {
              x: "x",
              y: "y",
              stroke: "config",
              strokeDasharray: "4,3",
            }),
          ],
          "log",
        ),
    },
  );
  return list;
}

function ledgerTable(ledger: readonly LedgerRow[]): string {
  const backends = [...new Set(ledger.map((r) => r.backend))];
  const ops = [...new Set(ledger.map((r) => r.op))].sort();
  const at = new Map(ledger.map((r) => [`${r.op}\u0000${r.backend}`, r]));
  const rows = ops.map((op) => {
    const cells = backends.map((b) => {
      const r = at.get(`${op}\u0000${b}`);
      if (!r) return "<td>–</td>";
      if (num(r.ulps) === 0) return "<td>0</td>";
      return `<td>${fmt(r.ulps)} ULP (${esc(r.where)}); ${pct(r.budgetUsed)} of budget</td>`;
    });
    return `<tr><th>${esc(op)}</th>${cells.join("")}</tr>`;
  });
  return `<table class="ledger"><thead><tr><th>op</th>${backends.map((b) => `<th>${esc(b)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** Fills `root` with the whole view. A plot that fails to draw says so in its place (and on the
 * console, which the tests watch). */
export function renderView(root: DomElement, data: ViewData, dom: Dom): void {
  const section = (title: string, html: string): DomElement => {
    const s = dom.createElement("section");
    s.innerHTML = `<h2>${esc(title)}</h2>${html}`;
    root.append(s);
    return s;
  };
  section("Verdicts", summary(data.report));
  if (data.report.totals.failed > 0) {
    section(
      "Failures",
      `<p>Each failing law with its worst error and budget; open a failure for its message, shrunk counterexample and replay command.</p>${verdictTable(data.report, true)}`,
    );
  }
  const budgets = section("How close to failing", "");
  const pictures = section(
    "The notes' pictures",
    data.pictures
      ? `<p>Computed by the engine the laws run on (${esc(data.pictures.backend)}'s kernels).</p>`
      : "",
  );
  for (const f of figures(data)) {
    const fig = dom.createElement("figure");
    fig.setAttribute("data-plot", f.id);
    fig.innerHTML = `<figcaption><b>${esc(f.title)}</b><br>${esc(f.caption)}</figcaption>`;
    try {
      fig.append(f.draw() as DomElement);
    } catch (e) {
      console.error(`plot ${f.id} failed: ${e instanceof Error ? e.message : String(e)}`);
      fig.append(`plot failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    (f.id === "budget-use" || f.id === "ulp-ledger" ? budgets : pictures).append(fig);
  }
  section(
    "Every law on every backend",
    `<p>The verdict of each law; "worst" is the largest share of an op's budget any of its calls used.</p>${verdictTable(data.report)}`,
  );
  if (data.ledger.length) section("ULP ledger (golden cases)", ledgerTable(data.ledger));
}

/** The view's stylesheet (inlined by the HTML report and the page). */
export const viewCss = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; vertical-align: top; text-align: left; }
table.verdicts td { min-width: 14em; max-width: 34em; }
th.law { font-weight: normal; max-width: 36em; }
.ops, .share, .rule, .budget { color: #666; font-size: 0.85em; }
td.passed { background: #eefaf0; } td.failed { background: #fdecea; }
td.not-implemented, td.not-applicable { background: #f4f4f4; color: #777; }
.verdict.ok { color: #1a7f37; font-weight: bold; } .verdict.bad { color: #c62828; font-weight: bold; }
pre { white-space: pre-wrap; word-break: break-all; background: #f6f8fa; padding: 4px; margin: 2px 0; font-size: 0.85em; }
figure { margin: 1em 0 2em; } figcaption { max-width: 60em; margin-bottom: 0.5em; }
`;

/**
 * The terminal summary: one line per law with a verdict per backend, then every failure with
 * its worst error, budget, counterexample and replay command, then the counts per backend.
 */
import type { LawReport, Report, Status } from "./schema.ts";
import {
  countsText,
  failureLines,
  missingOps,
  neutralise,
  overridesText,
  seconds,
  verdict,
} from "./text.ts";

const mark: Record<Status, string> = {
  passed: "✓",
  failed: "✗",
  "not implemented": "–",
  "not applicable": "·",
};

// Escape is written as a private-use character until the end, so that control characters in
// names and messages from a backend can be neutralised without touching the colours.
const ESC = "\uE000";
const ansi = {
  red: `${ESC}[31m`,
  green: `${ESC}[32m`,
  dim: `${ESC}[2m`,
  bold: `${ESC}[1m`,
  off: `${ESC}[0m`,
};

export interface TerminalOptions {
  /** ANSI colours (a TTY without NO_COLOR). */
  color?: boolean;
}

export function terminalReport(report: Report, options: TerminalOptions = {}): string {
  const paint = (code: keyof typeof ansi, s: string) =>
    options.color ? `${ansi[code]}${s}${ansi.off}` : s;
  const markOf = (s: Status) =>
    s === "passed"
      ? paint("green", mark[s])
      : s === "failed"
        ? paint("red", mark[s])
        : paint("dim", mark[s]);
  const { settings, backends } = report;
  const laws = backends[0]?.results ?? [];
  const out: string[] = [];
  out.push(
    `tensorlaws ${report.tool.version}: ${laws.length} laws × ${backends.length} backend${backends.length === 1 ? "" : "s"}; seed ${settings.seed}, ${settings.numRuns} runs per property${settings.path ? `, path ${settings.path}` : ""}, kernel timeout ${settings.timeoutMs} ms`,
  );
  for (const b of backends) {
    const overrides = overridesText(b);
    out.push(`  ${b.description}${overrides ? `; tolerance overrides: ${overrides}` : ""}`);
  }

  // Laws no backend ran are counted, not listed: a backend with one op would print 170 dashes.
  let topic = "";
  let silent = 0;
  const flush = () => {
    if (silent > 0) out.push(paint("dim", `  … ${silent} more not run on any backend`));
    silent = 0;
  };
  laws.forEach((law, i) => {
    if (law.topic !== topic) {
      flush();
      topic = law.topic;
      out.push(`\n${topic}`);
    }
    const row = backends.map((b) => b.results[i]);
    if (row.every((r) => r.status === "not implemented" || r.status === "not applicable")) {
      silent++;
      return;
    }
    const verdicts =
      backends.length === 1
        ? markOf(row[0].status)
        : row.map((r, j) => `${markOf(r.status)} ${backends[j].name}`).join("  ");
    out.push(`  ${law.id.padEnd(6)} ${verdicts}  ${law.title}`);
  });
  flush();

  for (const b of backends) {
    for (const r of b.results) {
      if (r.status === "failed" && r.failure) out.push("", ...failureBlock(r, b.name, paint));
    }
  }

  out.push("", paint("dim", "✓ passed  ✗ failed  – not implemented  · not applicable"));
  for (const b of backends) {
    out.push(`${paint("bold", b.name)}: ${countsText(b.counts)} (${seconds(b.durationMs)})`);
    const missing = missingOps(b);
    if (missing.length > 0) {
      const top = missing.slice(0, 6).map(([op, n]) => `${op} (${n})`);
      out.push(
        paint(
          "dim",
          `  ops it lacks, by laws they would unlock: ${top.join(", ")}${missing.length > 6 ? `, … ${missing.length - 6} more` : ""}`,
        ),
      );
    }
  }
  for (const note of report.notes) out.push(paint("red", `note: ${note}`));
  out.push(
    `${report.ok ? paint("green", verdict(report)) : paint("red", verdict(report))} (${seconds(report.durationMs)})`,
  );
  return `${neutralise(out.join("\n"), "\n").replaceAll(ESC, "\x1b")}\n`;
}

function failureBlock(
  r: LawReport,
  backend: string,
  paint: (code: "red" | "bold", s: string) => string,
): string[] {
  const f = r.failure;
  if (!f) return [];
  const lines = [paint("red", `✗ ${r.id} on ${backend}: ${r.title}`)];
  if (r.statistical) {
    lines.push(
      `  statistical law: ${r.statistical.test}; false-alarm rate ≤ ${r.statistical.alpha}`,
    );
  }
  for (const line of failureLines(f, backend)) lines.push(`  ${line}`);
  return lines;
}

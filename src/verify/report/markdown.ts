/**
 * The Markdown report, for a pull-request comment: the verdict and counts first, failures with
 * everything needed to replay them, then the full law table folded away.
 */
import type { Report, Status } from "./schema.ts";
import {
  failureLines,
  missingOps,
  neutralise,
  num,
  overridesText,
  seconds,
  verdict,
} from "./text.ts";

const mark: Record<Status, string> = {
  passed: "✅",
  failed: "❌",
  "not implemented": "➖",
  "not applicable": "·",
};

/** Text safe inside a table cell: no line breaks, pipes escaped, HTML inert. */
export function cell(s: string): string {
  return neutralise(s.replace(/\r?\n/g, " "))
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll("|", "\\|");
}

/** A fenced block that no backtick run inside `text` can close early. */
export function fence(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = "`".repeat(longest + 1);
  return `${ticks}text\n${text}\n${ticks}`;
}

export function markdownReport(report: Report): string {
  const { backends, settings } = report;
  const out: string[] = [];
  out.push(`## tensorlaws: ${report.ok ? "✅" : "❌"} ${cell(verdict(report))}`, "");
  out.push(
    `${backends[0]?.results.length ?? 0} laws, seed ${settings.seed}, ${settings.numRuns} runs per property, kernel timeout ${settings.timeoutMs} ms, ${seconds(report.durationMs)}.`,
    "",
  );
  out.push(
    "| backend | passed | failed | not implemented | not applicable | tolerance overrides (default) | time |",
    "|---|---:|---:|---:|---:|---|---:|",
  );
  for (const b of backends) {
    const c = b.counts;
    out.push(
      `| ${cell(b.description)} | ${c.passed} | ${c.failed} | ${c.notImplemented} | ${c.notApplicable} | ${cell(overridesText(b) ?? "none")} | ${seconds(b.durationMs)} |`,
    );
  }
  for (const note of report.notes) out.push("", `> **Note:** ${cell(note)}`);

  const failures = backends.flatMap((b) =>
    b.results.filter((r) => r.status === "failed").map((r) => ({ b, r })),
  );
  if (failures.length > 0) out.push("", "### Failures");
  for (const { b, r } of failures) {
    const f = r.failure;
    if (!f) continue;
    const worst = f.worst ? ` — worst ${num(f.worst.ulps)} ULP` : "";
    out.push(
      "",
      `<details><summary>❌ <b>${cell(r.id)}</b> on <b>${cell(b.name)}</b>: ${cell(r.title)}${cell(worst)}</summary>`,
      "",
      fence(failureLines(f, b.name).join("\n")),
      "",
      "</details>",
    );
  }

  const laws = backends[0]?.results ?? [];
  out.push("", "<details><summary>Every law</summary>", "");
  out.push(
    `| law | ${backends.map((b) => cell(b.name)).join(" | ")} | claim |`,
    `|---|${backends.map(() => ":-:|").join("")}---|`,
  );
  laws.forEach((law, i) => {
    const marks = backends.map((b) => mark[b.results[i].status]).join(" | ");
    out.push(`| ${cell(law.id)} | ${marks} | ${cell(law.title)} |`);
  });
  out.push(
    "",
    `${Object.entries(mark)
      .map(([s, m]) => `${m} ${s}`)
      .join(" · ")}`,
    "",
    "</details>",
  );

  for (const b of backends) {
    const missing = missingOps(b);
    if (missing.length === 0) continue;
    out.push(
      "",
      `**${cell(b.name)}** lacks ${missing.length} ops; by laws they would unlock: ${missing
        .slice(0, 10)
        .map(([op, n]) => `\`${op}\` (${n})`)
        .join(", ")}${missing.length > 10 ? ", …" : ""}`,
    );
  }
  return `${out.join("\n")}\n`;
}

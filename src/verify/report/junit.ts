/**
 * JUnit XML for CI systems: one <testsuite> per backend (its tolerance overrides as
 * properties), one <testcase> per law, <failure> when the law fails or a kernel breaks the
 * contract, <error> when something else throws, <skipped> when the law does not apply or the
 * backend lacks an op it needs.
 */
import type { BackendReport, LawReport, Report } from "./schema.ts";
import { budgetText, failureLines } from "./text.ts";

/** Text as XML character data or an attribute value: escaped, and without the characters
 * XML 1.0 forbids (control characters, lone surrogates), which no parser would accept. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "\uFFFD")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

const attrs = (pairs: Record<string, string | number>) =>
  Object.entries(pairs)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join("");

const secs = (ms: number) => (ms / 1000).toFixed(3);

function testcase(r: LawReport, b: BackendReport): string {
  const head = `    <testcase${attrs({ classname: `tensorlaws.${b.name}.${r.topic}`, name: `${r.id} ${r.title}`, time: secs(r.durationMs) })}`;
  if (r.status === "passed") return `${head}/>`;
  if (r.status === "not implemented" || r.status === "not applicable") {
    const why =
      r.status === "not implemented"
        ? `not implemented: ${b.name} lacks ${r.missing.join(", ")}`
        : `not applicable to ${b.name}`;
    return `${head}>\n      <skipped${attrs({ message: why })}/>\n    </testcase>`;
  }
  const f = r.failure;
  const tag = f?.kind === "error" ? "error" : "failure";
  const message = f ? f.message.split("\n")[0] : "failed";
  const body = f ? failureLines(f, b.name).join("\n") : "";
  return `${head}>\n      <${tag}${attrs({ message, type: f?.kind ?? "error" })}>${xmlEscape(body)}</${tag}>\n    </testcase>`;
}

function testsuite(b: BackendReport, report: Report): string {
  const errors = b.results.filter((r) => r.failure?.kind === "error").length;
  const props: Record<string, string> = {
    dtype: b.dtype,
    description: b.description,
    seed: String(report.settings.seed),
    numRuns: String(report.settings.numRuns),
    timeoutMs: String(report.settings.timeoutMs),
  };
  for (const t of b.tolerances) props[`tolerance.${t.op}`] = budgetText(t, b.name);
  return [
    `  <testsuite${attrs({
      name: b.name,
      tests: b.results.length,
      failures: b.counts.failed - errors,
      errors,
      skipped: b.counts.notImplemented + b.counts.notApplicable,
      time: secs(b.durationMs),
      timestamp: report.startedAt.replace(/\.\d+Z$|Z$/, ""),
    })}>`,
    "    <properties>",
    ...Object.entries(props).map(([name, value]) => `      <property${attrs({ name, value })}/>`),
    "    </properties>",
    ...b.results.map((r) => testcase(r, b)),
    "  </testsuite>",
  ].join("\n");
}

export function junitReport(report: Report): string {
  const t = report.totals;
  const errors = report.backends
    .flatMap((b) => b.results)
    .filter((r) => r.failure?.kind === "error").length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({
      name: "tensorlaws",
      tests: t.passed + t.failed + t.notImplemented + t.notApplicable,
      failures: t.failed - errors,
      errors,
      skipped: t.notImplemented + t.notApplicable,
      time: secs(report.durationMs),
    })}>`,
    ...report.backends.map((b) => testsuite(b, report)),
    "</testsuites>",
    "",
  ].join("\n");
}

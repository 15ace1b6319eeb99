/** The JSON report: the Report object itself (src/verify/report/schema.ts documents every key). */
import { type Report, reportProblems } from "./schema.ts";

export function jsonReport(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** Reads a JSON report back, checking it against the schema; throws listing every problem. */
export function parseReport(text: string): Report {
  const value: unknown = JSON.parse(text);
  const problems = reportProblems(value);
  if (problems.length > 0) {
    throw new TypeError(`not a tensorlaws report:\n${problems.slice(0, 20).join("\n")}`);
  }
  return value as Report;
}

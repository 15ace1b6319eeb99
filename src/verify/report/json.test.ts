/** The JSON report follows its schema, and the schema's check catches every departure. */
import { describe, expect, test } from "vitest";
import { sampleReport } from "../fixtures/reports.ts";
import { jsonReport, parseReport } from "./json.ts";
import { reportProblems, SCHEMA_VERSION } from "./schema.ts";

const report = await sampleReport();
const text = jsonReport(report);

describe("JSON report", () => {
  test("a real report, passes and failures of every kind, validates after a JSON round trip", () => {
    const kinds = report.backends.flatMap((b) => b.results.map((r) => r.failure?.kind ?? r.status));
    expect(new Set(kinds)).toEqual(new Set(["passed", "violation", "contract", "not implemented"]));
    expect(reportProblems(JSON.parse(text))).toEqual([]);
    expect(parseReport(text)).toEqual(JSON.parse(text));
    expect(report.schemaVersion).toBe(SCHEMA_VERSION);
  });

  test("numbers JSON cannot hold are written as strings, never as null", () => {
    const worst = parseReport(text).backends[1].results.find((r) => r.id === "B2")?.failure?.worst;
    expect(worst?.actual).toBe("NaN");
    expect(worst?.ulps).toBe("Infinity");
    expect(text).not.toContain('null,\n      "expected"');
  });

  test("the check names each departure by its path", () => {
    const broken = JSON.parse(text);
    delete broken.settings.seed;
    broken.backends[0].extra = 1;
    broken.backends[1].results[1].status = "flaky";
    broken.backends[1].results[1].failure.worst.actual = null;
    broken.totals.passed = Number.NaN;
    expect(reportProblems(broken)).toEqual([
      "$.settings.seed: missing",
      "$.totals.passed: expected a finite number, got null",
      "$.backends[0].extra: not in the schema",
      '$.backends[1].results[1].status: expected "passed" | "failed" | "not implemented" | "not applicable", got "flaky"',
      "$.backends[1].results[1].failure.worst.actual: expected a finite number, got null",
      '$.backends[1].results[1].failure.worst.actual: expected "NaN" | "Infinity" | "-Infinity", got null',
    ]);
    expect(() => parseReport(JSON.stringify(broken))).toThrow(/not a tensorlaws report/);
  });

  test("every failure records a replay command with its seed", () => {
    const failures = report.backends.flatMap((b) => b.results.flatMap((r) => r.failure ?? []));
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) {
      expect(f.replay.command).toMatch(/^npx tensorlaws verify .* --laws \S+ --seed \d+/);
      expect(f.replay.command).toContain(`--seed ${f.replay.seed}`);
      if (f.replay.path) expect(f.replay.command).toContain(`--path ${f.replay.path}`);
    }
  });
});

import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { LEDGER, renderLedger } from "./ledger.ts";

test("the ULP ledger golden/ULPS.md is what `npm run ulps` measures now", async () => {
  const committed = readFileSync(LEDGER, "utf8");
  expect(committed, "golden/ULPS.md is stale: run `npm run ulps`").toBe(await renderLedger());
});

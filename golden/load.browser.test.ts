import { describe, expect, it } from "vitest";
import * as browser from "./load.browser.ts";
import * as node from "./load.ts";

describe("the browser's golden loader", () => {
  it("bundles exactly the golden files that the Node loader reads from disk", () => {
    expect(browser.loadGoldens()).toEqual(node.loadGoldens());
  });

  it("turns every golden case into the same input and expected tensors as the Node loader", () => {
    for (const file of node.loadGoldens().values()) {
      for (const c of file.cases) {
        expect(browser.goldenInputs(c, "float32")).toEqual(node.goldenInputs(c, "float32"));
        expect(browser.goldenExpected(c)).toEqual(node.goldenExpected(c));
      }
    }
  });
});

/** The JUnit XML is well-formed and says what the report says, whatever the names contain. */
import { describe, expect, test } from "vitest";
import { NASTY, sampleReport } from "../fixtures/reports.ts";
import { junitReport, xmlEscape } from "./junit.ts";

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** A strict parser for the XML subset JUnit uses; throws on anything not well-formed. */
function parseXml(src: string): XmlElement {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`not well-formed at ${i}: ${why} near ${JSON.stringify(src.slice(i, i + 30))}`);
  };
  const decode = (raw: string): string => {
    for (const ch of raw) {
      const c = ch.codePointAt(0) ?? 0;
      if ((c < 0x20 && c !== 0x9 && c !== 0xa && c !== 0xd) || c === 0xfffe || c === 0xffff) {
        fail("a character XML 1.0 forbids");
      }
    }
    return raw.replace(/&([^;]*);?/g, (m, name: string) => {
      if (!m.endsWith(";")) fail(`a bare &`);
      if (name in entities) return entities[name];
      const code = /^#x([0-9a-f]+)$/i.exec(name)?.[1] ?? /^#(\d+)$/.exec(name)?.[1];
      if (code === undefined) fail(`unknown entity &${name};`);
      return String.fromCodePoint(
        name.startsWith("#x") ? Number.parseInt(code ?? "", 16) : Number(code),
      );
    });
  };
  const name = (): string => {
    const m = /^[A-Za-z_][\w.-]*/.exec(src.slice(i));
    if (!m) return fail("a name");
    i += m[0].length;
    return m[0];
  };
  const spaces = () => {
    while (/\s/.test(src[i] ?? "")) i++;
  };
  const element = (): XmlElement => {
    if (src[i] !== "<") fail("'<'");
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: "" };
    for (;;) {
      spaces();
      if (src.startsWith("/>", i)) {
        i += 2;
        return el;
      }
      if (src[i] === ">") break;
      const key = name();
      if (key in el.attrs) fail(`attribute ${key} twice`);
      spaces();
      if (src[i++] !== "=") fail("'='");
      spaces();
      const quote = src[i++];
      if (quote !== '"' && quote !== "'") fail("a quoted value");
      const end = src.indexOf(quote, i);
      if (end < 0) fail("the closing quote");
      const raw = src.slice(i, end);
      if (raw.includes("<")) fail("'<' in an attribute");
      el.attrs[key] = decode(raw);
      i = end + 1;
    }
    i++;
    for (;;) {
      if (src.startsWith("</", i)) {
        i += 2;
        if (name() !== el.name) fail(`</${el.name}>`);
        spaces();
        if (src[i++] !== ">") fail("'>'");
        return el;
      }
      if (src[i] === "<") el.children.push(element());
      else {
        const end = src.indexOf("<", i);
        if (end < 0) fail(`</${el.name}>`);
        const raw = src.slice(i, end);
        if (raw.includes("]]>")) fail("']]>' in text");
        el.text += decode(raw);
        i = end;
      }
    }
  };
  const prolog = /^<\?xml version="1\.0" encoding="UTF-8"\?>\s*/.exec(src);
  if (!prolog) fail("the XML declaration");
  i = prolog?.[0].length ?? 0;
  const root = element();
  spaces();
  if (i !== src.length) fail("the end of the document");
  return root;
}

const report = await sampleReport();
const xml = parseXml(junitReport(report));
const suites = xml.children.filter((c) => c.name === "testsuite");

describe("JUnit XML", () => {
  test("the parser used here rejects what is not well-formed", () => {
    const head = '<?xml version="1.0" encoding="UTF-8"?>';
    for (const bad of [
      "<a>",
      "<a></b>",
      '<a x="1" x="2"/>',
      "<a>&nope;</a>",
      "<a>\u0001</a>",
      '<a x="<"/>',
    ]) {
      expect(() => parseXml(`${head}${bad}`), bad).toThrow(/not well-formed/);
    }
    expect(parseXml(`${head}<a x="&lt;&amp;">t&#65;</a>`)).toEqual({
      name: "a",
      attrs: { x: "<&" },
      children: [],
      text: "tA",
    });
  });

  test("one testsuite per backend, one testcase per law, with totals that add up", () => {
    expect(xml.name).toBe("testsuites");
    const names = report.backends.map((b) => b.name.replace("\u0001", "\uFFFD"));
    expect(suites.map((s) => s.attrs.name)).toEqual(names);
    for (const [k, suite] of suites.entries()) {
      const b = report.backends[k];
      const cases = suite.children.filter((c) => c.name === "testcase");
      expect(cases.length).toBe(b.results.length);
      expect(Number(suite.attrs.tests)).toBe(b.results.length);
      const failed = cases.filter((c) =>
        c.children.some((x) => x.name === "failure" || x.name === "error"),
      );
      expect(failed.length).toBe(b.counts.failed);
      expect(Number(suite.attrs.failures) + Number(suite.attrs.errors)).toBe(b.counts.failed);
    }
    const total = report.backends.reduce((n, b) => n + b.results.length, 0);
    expect(Number(xml.attrs.tests)).toBe(total);
  });

  test("a failure carries its message, worst error, budget and replay command", () => {
    const suite = suites.find((s) => s.attrs.name === "overflow-softmax");
    const b2 = suite?.children.find((c) => c.attrs.name?.startsWith("B2 "));
    const failure = b2?.children.find((c) => c.name === "failure");
    expect(failure?.attrs.type).toBe("violation");
    expect(failure?.attrs.message).toContain("outside tolerance");
    expect(failure?.text).toContain("worst at [0, 0]: actual NaN");
    expect(failure?.text).toContain("override by overflow-softmax; default 8 ULP, factor 2");
    expect(failure?.text).toContain(
      "replay: npx tensorlaws verify './overflow softmax.ts' --laws B2",
    );
  });

  test("a law the backend cannot run is skipped, saying which op it lacks", () => {
    const suite = suites.find((s) => s.attrs.name === "overflow-softmax");
    const c4a = suite?.children.find((c) => c.attrs.name?.startsWith("C4a "));
    expect(c4a?.children.map((c) => [c.name, c.attrs.message])).toEqual([
      ["skipped", "not implemented: overflow-softmax lacks relu"],
    ]);
  });

  test("names and messages with markup and control characters survive escaping", () => {
    const nasty = suites[2];
    // The control character cannot be written in XML 1.0: it becomes U+FFFD, the rest round-trips.
    const expected = `nasty ${NASTY.replace("\u0001", "\uFFFD")}`;
    expect(nasty.attrs.name).toBe(expected);
    const failure = nasty.children[1].children.find((c) => c.name === "failure");
    expect(failure?.text).toContain(`boom ${NASTY.replace("\u0001", "\uFFFD")}]]>`);
    expect(xmlEscape(`a<b>&"'`)).toBe("a&lt;b&gt;&amp;&quot;&apos;");
  });

  test("tolerance overrides are suite properties", () => {
    const props = suites[1].children.find((c) => c.name === "properties")?.children ?? [];
    expect(props.find((p) => p.attrs.name === "tolerance.softmax")?.attrs.value).toBe(
      "softmax 16 ULP, factor 2 (override by overflow-softmax; default 8 ULP, factor 2)",
    );
  });
});

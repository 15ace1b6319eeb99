/**
 * The command line: exit codes, bad usage, the known-bad kernels, hostile kernels, report files
 * and `serve`. Most tests call `main` in-process (fast); a few run the real bin as users do.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test, vi } from "vitest";
import { allMutants } from "../selftest/buggy/index.ts";
import { type Io, main } from "./cli.ts";
import { ModuleSession } from "./isolate.ts";
import { parseReport } from "./report/json.ts";

const dir = mkdtempSync(join(tmpdir(), "tensorlaws-cli-"));
// After the subprocesses (below) that write there, whichever tests ran.
afterAll(async () => {
  await Promise.allSettled(Object.values(bins));
  rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[], tty = false) {
  let out = "";
  let err = "";
  const io: Io = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    outIsTTY: false,
    errIsTTY: tty,
    // The CPU built-ins only: creating a WebGPU device is another test file's business. One
    // process (--jobs 1) unless a test says otherwise: helper processes have a test of their own.
    env: { TENSORLAWS_WEBGPU: "0", TENSORLAWS_JOBS: "1" },
  };
  const code = await main(args, io);
  return { code, out, err };
}

const bin = join(import.meta.dirname, "..", "..", "bin", "tensorlaws.mjs");
const fixture = (name: string) => join(import.meta.dirname, "fixtures", name);

/** The real command in a subprocess; started when called, awaited by the tests. */
function runBin(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [bin, ...args]);
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, out, err });
    });
  });
}

// The subprocesses start here, side by side and beside the in-process tests (Node's start-up
// and tsx are most of their time); their tests await them.
const hostileJson = join(dir, "hostile.json");
const bins = {
  bad: runBin(["verify", "--mutant", "softmax-no-max-shift", "--laws", "B1"]),
  good: runBin(["verify", "--builtin", "cpu32", "--laws", "B1,B2,C4a"]),
  // Only the laws the test reads: each that exercises an attack (I4.<op>), the honest softmax
  // before (B1, B2) and after them (I4.softmax), and C7b for the shrinking of a hang. `--ops`
  // would add every other law on these ops, and each hit on leaky_relu's loop costs a new process.
  hostile: runBin([
    fixture("hostile-backend.ts"),
    "--laws",
    "B1,B2,C7b,I4.exp,I4.relu,I4.sigmoid,I4.tanh,I4.neg,I4.silu,I4.gelu,I4.leaky_relu,I4.softmax",
    "--timeout",
    "200",
    "--json",
    hostileJson,
  ]),
};

describe("usage", () => {
  test("--help prints the usage, options and exit codes, and exits 0", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    for (const option of [
      "--laws",
      "--ops",
      "--topics",
      "--seed",
      "--path",
      "--timeout",
      "--load-timeout",
    ]) {
      expect(r.out).toContain(option);
    }
    expect(r.out).toContain("Exit codes: 0");
  });

  test("--list prints the catalogue, narrowed by the filters", async () => {
    const r = await run(["--list", "--topics", "dropout"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("| E1 |");
    expect(r.out).not.toContain("| B1 |");
  });

  test("--mutants lists every known-bad kernel with the laws that reject it", async () => {
    const r = await run(["--mutants"]);
    expect(r.code).toBe(0);
    for (const m of allMutants) expect(r.out).toContain(`| ${m.backend.name} |`);
  });

  test.each([
    [["--frobnicate"], "--frobnicate"],
    [["./no/such/backend.ts"], "no such file"],
    [[fixture("not-a-backend.ts")], "not a backend"],
    [["--builtin", "cpu32", "--laws", "Z9"], "no law has id 'Z9'"],
    [["--builtin", "cpu32", "--ops", "fft"], "'fft' is not an op"],
    [["--builtin", "cpu32", "--topics", "vision"], "'vision' is not a topic"],
    [["--builtin", "cpu32", "--runs", "ten"], "--runs needs an integer"],
    [["--builtin", "cpu32", "--path", "4;1"], "--path needs a fast-check path"],
    [["--builtin", "cpu32", "--path", "4:1", "--laws", "B1,B2"], "--path replays one law"],
    [["--builtin", "tpu"], "the built-ins are cpu, cpu32 and webgpu"],
    [["--mutant", "no-such-mutant"], "no such known-bad kernel"],
    [["--wgsl", "softmax"], "expected OP=FILE"],
    [["--builtin", "cpu32", "--json", "/no/such/dir/r.json"], "its directory does not exist"],
    [["--builtin", "cpu32", "--json", tmpdir()], "it is a directory"],
    [
      ["--builtin", "cpu32", "--json", "r.out", "--junit", "./r.out"],
      "cannot write two reports to",
    ],
    [
      ["--builtin", "cpu32", "--timeout", "2147483648"],
      "--timeout needs an integer in [1, 2147483647]",
    ],
    [["--builtin", "cpu32", "--timeout", "1e3"], "--timeout needs an integer"],
    [
      ["--builtin", "cpu32", "--load-timeout", "0"],
      "--load-timeout needs an integer in [1, 2147483647]",
    ],
    [["--builtin", "cpu32", "--seed", "4294967296"], "fast-check seeds are 32-bit"],
    [["--builtin", "cpu32", "--seed=-1"], "--seed needs an integer in [0, 4294967295]"],
    [["--builtin", "cpu32", "--seed", "1.5"], "--seed needs an integer"],
    [["--builtin", "cpu32", "--laws", ""], "--laws needs at least one name"],
    [["--builtin", "cpu32", "--ops", " , "], "--ops needs at least one name"],
  ])("bad usage %j exits 2 with a clear message", async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.out).toBe("");
  });
});

describe("verdicts", () => {
  test("with no backend named, the CPU built-ins are verified", async () => {
    const r = await run(["--laws", "B1,B2"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("cpu float64");
    expect(r.out).toContain("cpu32 float32");
    expect(r.out).toContain("OK: all 4 law runs that apply passed");
  });

  test("a backend where no selected law calls a kernel is not a pass", async () => {
    const r = await run([fixture("overflow-softmax.ts"), "--ops", "relu"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("nothing was verified on overflow-softmax");
  });

  test("a misspelled kernel is pointed out, and verifying nothing is not a pass", async () => {
    const r = await run([fixture("misspelled-backend.ts"), "--laws", "B1"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "kernel 'softMax' is no op of the contract and is ignored: did you mean 'softmax'?",
    );
  });

  test("progress goes to stderr on a terminal, and nowhere otherwise", async () => {
    const quiet = await run(["--builtin", "cpu32", "--laws", "B1,B2"]);
    expect(quiet.err).toBe("");
    const tty = await run(["--builtin", "cpu32", "--laws", "B1,B2"], true);
    expect(tty.err).toContain("[2/2] cpu32 B2");
    expect(tty.out).not.toContain("\r");
  });

  test("a report file in each format is written, and the JSON one follows the schema", async () => {
    const files = ["r.json", "r.md", "r.xml"].map((f) => join(dir, f));
    const r = await run([
      "verify",
      "--builtin",
      "cpu32",
      "--laws",
      "B1,C4a",
      "--json",
      files[0],
      "--markdown",
      files[1],
      "--junit",
      files[2],
    ]);
    expect(r.code).toBe(0);
    const report = parseReport(readFileSync(files[0], "utf8"));
    expect(report.backends[0].results.map((l) => [l.id, l.status])).toEqual([
      ["B1", "passed"],
      ["C4a", "passed"],
    ]);
    expect(readFileSync(files[1], "utf8")).toContain("## tensorlaws: ✅");
    expect(readFileSync(files[2], "utf8")).toContain(
      '<testsuite name="cpu32" tests="2" failures="0"',
    );
  });

  // One run of a module that fails B2 (its own process) for the two tests that read it.
  const overflowFiles = ["o.json", "o.md", "o.xml"].map((f) => join(dir, f));
  let overflow: ReturnType<typeof run> | undefined;
  const overflowB2 = () =>
    (overflow ??= run([
      fixture("overflow-softmax.ts"),
      "--laws",
      "B2",
      "--runs",
      "30",
      "--json",
      overflowFiles[0],
      "--markdown",
      overflowFiles[1],
      "--junit",
      overflowFiles[2],
    ]));

  test("a tolerance override is shown next to the default budget in every report", async () => {
    const files = overflowFiles;
    const r = await overflowB2();
    expect(r.code).toBe(1);
    const shown = "softmax 16 ULP, factor 2 (default 8 ULP, factor 2)";
    expect(r.out).toContain(`tolerance overrides: ${shown}`);
    expect(r.out).toContain(
      "budget: softmax 16 ULP, factor 2 (override by overflow-softmax; default 8 ULP, factor 2)",
    );
    expect(readFileSync(files[1], "utf8")).toContain(shown);
    expect(readFileSync(files[2], "utf8")).toContain(
      '<property name="tolerance.softmax" value="softmax 16 ULP, factor 2 (override by overflow-softmax; default 8 ULP, factor 2)"/>',
    );
    const [backend] = parseReport(readFileSync(files[0], "utf8")).backends;
    expect(backend.tolerances).toEqual([
      { op: "softmax", ulps: 16, factor: 2, default: { ulps: 8, factor: 2 }, overridden: true },
    ]);
  });

  test("the replay line of a failure reproduces exactly that failure", async () => {
    const first = await overflowB2();
    const line = first.out.split("\n").find((l) => l.includes("replay: npx tensorlaws verify"));
    expect(line).toBeDefined();
    const args = (line ?? "").split("replay: npx tensorlaws verify ")[1].split(" ");
    expect(args).toContain("--path");
    const again = await run(args);
    expect(again.code).toBe(1);
    const worst = (out: string) => out.split("\n").find((l) => l.includes("worst at"));
    expect(worst(again.out)).toBe(worst(first.out));
  });
});

// That every known-bad kernel is rejected by each law named for it is properties/mutants.test.ts's
// business (all of them, law by law). Here: that `verify --mutant` runs one and names in its
// output every law that rejects it, for one kernel per family of laws (the catalogue's letter),
// each caught by several laws where one is. None of I5j's: its tensors of 16.8 million elements
// cost seconds a kernel and prove nothing more about the command.
const sample = [
  "sum-bf16-accumulator", // A1a, A1b
  "cross-entropy-mean-over-classes", // B7a, B11a, B13a
  "tanh-vjp-sign", // C2c, C3a, C9b
  "kaiming-normal-fixed-gain", // D3a, D3b
  "dropout-seed-ignored", // E4b, E4c, E6
  "ln-over-batch", // F8a, F8b, F5c
  "cross-entropy-vjp-mean-not-divided", // G1e, G6
  "sum-vjp-divides-by-n", // H1a, G1b
  "ce-fused-mean-grad", // I3b, I5e
];
const sampled = sample.map((name) => {
  const m = allMutants.find((x) => x.backend.name === name);
  if (!m) throw new Error(`no known-bad kernel '${name}': pick another of its family`);
  return m;
});

describe("known-bad kernels fail verify, naming the laws that catch them", () => {
  test("the sample has a kernel for every family of laws that has known-bad kernels", () => {
    const families = (ms: typeof allMutants) =>
      [...new Set(ms.flatMap((m) => m.caughtBy.map((id) => id[0])))].sort();
    expect(families(sampled)).toEqual(families(allMutants));
  });

  for (const m of sampled) {
    test(`${m.backend.name} fails ${m.caughtBy.join(", ")}`, async () => {
      const r = await run(["verify", "--mutant", m.backend.name, "--laws", m.caughtBy.join(",")]);
      expect(r.code).toBe(1);
      for (const id of m.caughtBy) expect(r.out).toContain(`✗ ${id} on ${m.backend.name}:`);
    });
  }
});

describe("--jobs", () => {
  test("--jobs 2 runs a built-in's laws in two helper processes and reports exactly what one process does", async () => {
    // A large-tensor law (I5b) among ordinary ones: it starts first, the report keeps the order.
    const laws = ["--laws", "B1,B2,C4a,I5b,E1,F8a"];
    const opened = vi.spyOn(ModuleSession, "open");
    const one = join(dir, "jobs-1.json");
    const two = join(dir, "jobs-2.json");
    expect((await run(["--builtin", "cpu32", ...laws, "--jobs", "1", "--json", one])).code).toBe(0);
    expect(opened).not.toHaveBeenCalled();
    expect((await run(["--builtin", "cpu32", ...laws, "--jobs", "2", "--json", two])).code).toBe(0);
    expect(opened).toHaveBeenCalledTimes(2);
    opened.mockRestore();
    const timeless = (file: string) =>
      JSON.stringify(parseReport(readFileSync(file, "utf8")).backends, (k, v) =>
        k === "durationMs" ? 0 : v,
      );
    // The same verdicts, evidence and budget use, law by law in the same order.
    expect(timeless(two)).toBe(timeless(one));
  });

  test("--jobs needs an integer from 1", async () => {
    const r = await run(["--builtin", "cpu32", "--jobs", "0"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--jobs needs an integer in [1, 64]");
  });
});

describe("the installed command (a subprocess, as users run it)", () => {
  test("fails on a known-bad kernel, naming the law, and passes on cpu32", async () => {
    const bad = await bins.bad;
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("✗ B1 on softmax-no-max-shift:");
    const good = await bins.good;
    expect(good.code).toBe(0);
    expect(good.out).toContain("cpu32: 3 passed, 0 failed");
  });

  test("a hostile kernel fails the law that exercised it and the run goes on", async () => {
    const r = await bins.hostile;
    expect(r.code).toBe(1);
    const results = parseReport(readFileSync(hostileJson, "utf8")).backends[0].results;
    const byId = new Map(results.map((l) => [l.id, l]));
    const attacks: [law: string, says: string][] = [
      ["I4.exp", "threw RangeError: exp exploded"],
      ["I4.relu", "has shape [8, 1], expected [8]"],
      ["I4.sigmoid", "has dtype float64, the backend declares float32"],
      ["I4.tanh", "is not a Float32Array or Float64Array"],
      ["I4.neg", "mutated its input 'x'"],
      ["I4.silu", "did not return within 200 ms"],
      ["I4.gelu", "threw outside its returned value"],
      [
        "I4.leaky_relu",
        "the kernel of leaky_relu did not return within 200 ms and blocked its process",
      ],
    ];
    for (const [law, says] of attacks) {
      const l = byId.get(law);
      expect(l?.status, law).toBe("failed");
      expect(l?.failure?.kind, law).toBe("contract");
      expect(l?.failure?.message, law).toContain(says);
    }
    // The honest kernel, checked after the hostile ones broke, still passes.
    for (const law of ["B1", "B2", "I4.softmax"]) expect(byId.get(law)?.status, law).toBe("passed");
    // A hang is not shrunk: every retry would wait out the timeout again.
    expect(byId.get("C7b")?.failure?.counterexample?.shrunk).toBe(false);
  });
});

describe("tensorlaws serve", () => {
  test("--help says what the page does and exits 0", async () => {
    const { code, out } = await run(["serve", "--help"]);
    expect(code).toBe(0);
    expect(out).toContain("runs the laws in your browser, on your GPU");
  });

  test("a bad port or an unknown option is bad usage (exit 2)", async () => {
    expect((await run(["serve", "--port", "http"])).code).toBe(2);
    const unknown = await run(["serve", "--colour"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("--colour");
  });

  test("--write FILE writes the page as one self-contained HTML file with the examples built in", async () => {
    const file = join(dir, "page.html");
    const { code, out } = await run(["serve", "--write", file]);
    expect(code).toBe(0);
    expect(out).toBe(`wrote ${file}\n`);
    const html = readFileSync(file, "utf8");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect(html).toContain("without subtracting the row max");
  }, 60_000);
});

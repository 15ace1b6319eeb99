/**
 * `tensorlaws serve`: the page that runs the laws on the visitor's own GPU (src/verify/page/),
 * served from this machine with nothing fetched from anywhere else: one HTML document with the
 * laws, the engine, the WebGPU backend and the plotting library inlined. `--write FILE` writes
 * that document instead, for any static host (WebGPU needs https or localhost).
 */
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { buildPage } from "./page/build.ts";

export const SERVE_USAGE = `Usage: tensorlaws serve [--port N] [--host H] | tensorlaws serve --write FILE

Serves a page that runs the laws in your browser, on your GPU (WebGPU): tensorlaws' own
backend or a WGSL shader you paste or drop in, with progress, verdicts, counterexamples and
the JSON report to download. Works offline: nothing is loaded from the network.

  --port N      port to listen on (default 8080; 0 picks a free one)
  --host H      address to listen on (default 127.0.0.1)
  --write FILE  write the page as one self-contained HTML file instead of serving it
`;

/** Starts the server; resolves once it listens (its address is `server.address()`). */
export async function startServer(port = 8080, host = "127.0.0.1"): Promise<Server> {
  const page = await buildPage();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
    } else if (path === "/" || path === "/index.html") {
      res
        .writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-cache",
          // Nothing but this document: the page runs offline by construction.
          "content-security-policy":
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:",
        })
        .end(req.method === "HEAD" ? undefined : page);
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** The `serve` subcommand: returns the exit code for --write and bad usage; otherwise serves
 * until the process is stopped. */
export async function serveMain(
  argv: readonly string[],
  io: { out(text: string): void; err(text: string): void },
): Promise<number> {
  let values: { port?: string; host?: string; write?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        port: { type: "string" },
        host: { type: "string" },
        write: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    io.err(`tensorlaws serve: ${e instanceof Error ? e.message : String(e)}\n${SERVE_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(SERVE_USAGE);
    return 0;
  }
  if (values.write) {
    writeFileSync(values.write, await buildPage());
    io.out(`wrote ${values.write}\n`);
    return 0;
  }
  const port = Number(values.port ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(`tensorlaws serve: --port needs an integer from 0 to 65535, got '${values.port}'\n`);
    return 2;
  }
  const server = await startServer(port, values.host ?? "127.0.0.1");
  const { address, port: bound } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  io.out(`tensorlaws: the laws on your GPU at http://${host}:${bound}/ (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => server.once("close", () => resolve()));
  return 0;
}

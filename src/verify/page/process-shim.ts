/**
 * The shared runner (verify.ts) listens on `process` for errors a kernel throws outside its
 * promise; a browser has no `process`. This stand-in, imported before anything else by the page,
 * gives it one that hears nothing (the page's own error handler shows such errors instead).
 */
const g = globalThis as { process?: unknown };
g.process ??= { env: {}, argv: [], on() {}, off() {}, platform: "browser" };

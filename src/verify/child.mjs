// The process a backend module under test runs in (src/verify/isolate.ts starts it with
// child_process.fork): tsx's loader first, so that the module and our sources may be TypeScript.
import { register } from "tsx/esm/api";

register();
await import("./child.ts");

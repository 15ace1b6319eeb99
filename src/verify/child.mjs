// The process a backend module under test runs in (src/verify/isolate.ts starts it with
// child_process.fork): our module hooks first, so that our TypeScript sources import.
import "../loader/register.mjs";

await import("./child.ts");

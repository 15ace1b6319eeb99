/** Every error tensorlaws throws names the op, and where it can, the argument at fault. */
export class TensorLawsError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(`${op}: ${message}`);
    this.name = new.target.name;
  }
}

/** The caller passed something the op's contract rejects; no kernel ran. */
export class InvalidArgumentError extends TensorLawsError {
  constructor(
    op: string,
    readonly arg: string,
    readonly reason: string,
  ) {
    super(op, `invalid argument '${arg}': ${reason}`);
  }
}

/** A kernel broke the backend contract: wrong shape or dtype out, mutated input, threw, hung. */
export class KernelContractError extends TensorLawsError {
  constructor(
    op: string,
    readonly backend: string,
    readonly reason: string,
  ) {
    super(op, `kernel of backend '${backend}' broke the contract: ${reason}`);
  }
}

/** The backend has no kernel for this op; laws that need it report "not implemented". */
export class NotImplementedError extends TensorLawsError {
  constructor(
    op: string,
    readonly backend: string,
  ) {
    super(op, `backend '${backend}' does not implement this op`);
  }
}

/**
 * What was thrown, as one line, without trusting it: `throw undefined`, a non-Error, or an
 * error whose `name`, `message` or `toString` getter throws all get a readable description.
 */
export function describeThrown(e: unknown): string {
  try {
    if (e instanceof Error) {
      const name = typeof e.name === "string" ? e.name : "Error";
      const message = typeof e.message === "string" ? e.message : "(no message)";
      return message ? `${name}: ${message}` : name;
    }
  } catch {
    return "an error whose name or message could not be read";
  }
  switch (typeof e) {
    case "string":
      return JSON.stringify(e.length > 200 ? `${e.slice(0, 200)}…` : e);
    case "number":
    case "boolean":
    case "undefined":
    case "bigint":
      return String(e);
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      return e === null ? "null" : "a non-Error object";
  }
}

/**
 * What `import … from "tensorlaws"` gives: the contract types for writing a backend, tensor
 * helpers for building outputs, the reference backends, and the verify runner and reports for
 * calling tensorlaws from code instead of the command line.
 *
 *   import type { Backend } from "tensorlaws";
 *   const backend: Backend = { name: "mine", dtype: "float32", kernels: { softmax: mySoftmax } };
 *   export default backend;
 *
 * To compute with the reference engine, go through `ops(cpu)` (or `call`): every call is
 * validated. `cpu.kernels.*` are the raw kernels, which trust their caller.
 */

export { allLaws } from "../properties/index.ts";
// The autograd tape, on host tensors (new Tape(backend)) or device ones (Tape.onDevice(backend)).
export type { TapeOptions } from "./engine/autograd.ts";
export { Tape, Var } from "./engine/autograd.ts";
export type { CallOptions, Ops } from "./engine/call.ts";
// The validated door to any backend: ops(cpu).softmax({ x }, {}), or call(cpu, "softmax", …).
export { call, ops } from "./engine/call.ts";
export type {
  Attrs,
  Backend,
  BatchNormAttrs,
  BatchNormInputs,
  BatchNormOutput,
  Device,
  DeviceKernel,
  DeviceKernels,
  DeviceTensor,
  DropoutAttrs,
  FanMode,
  InitAttrs,
  Inputs,
  KaimingAttrs,
  Kernel,
  Kernels,
  LeakyAttrs,
  LossAttrs,
  NormAttrs,
  NormGrads,
  OnDevice,
  OpName,
  OpTable,
  Output,
  ReduceAttrs,
  Reduction,
  Targets,
  ToleranceOverrides,
  VarianceAttrs,
} from "./engine/contract.ts";
export { cpu, cpu32 } from "./engine/cpu/index.ts";
// The same door for tensors a backend keeps on its device (backend.device).
export { callDevice } from "./engine/device.ts";
export {
  InvalidArgumentError,
  KernelContractError,
  NotImplementedError,
  TensorLawsError,
} from "./engine/errors.ts";
export type {
  AnyTensor,
  FloatArray,
  FloatDType,
  IndexTensor,
  Tensor,
} from "./engine/tensor.ts";
export { cast, indices, scalar, sizeOf, tensor } from "./engine/tensor.ts";
export type { Law, LawResult, LawStatus } from "./harness/law.ts";
export { runLaw } from "./harness/law.ts";
export { jsonReport, parseReport } from "./verify/report/json.ts";
export { junitReport } from "./verify/report/junit.ts";
export { markdownReport } from "./verify/report/markdown.ts";
export type {
  BackendReport,
  BudgetReport,
  FailureReport,
  LawReport,
  Report,
  WorstReport,
} from "./verify/report/schema.ts";
export { reportProblems, SCHEMA_VERSION } from "./verify/report/schema.ts";
export { terminalReport } from "./verify/report/terminal.ts";
export type { Selection, Target, VerifyOptions } from "./verify/verify.ts";
export { selectLaws, verify } from "./verify/verify.ts";

/**
 * Special functions the reference kernels need (GELU is x·Φ(x), and Φ is erfc's). Taken from
 * stdlib, a port of FreeBSD msun: a well-kept implementation with full relative accuracy in the
 * tails, which the float64 reference needs and a hand-written rational fit would have to prove.
 */
import erfImpl from "@stdlib/math-base-special-erf";
import erfcImpl from "@stdlib/math-base-special-erfc";

export function erf(x: number): number {
  return erfImpl(x);
}

/** 1 − erf(x), without the cancellation: relative accuracy down to underflow near x = 26.5. */
export function erfc(x: number): number {
  return erfcImpl(x);
}

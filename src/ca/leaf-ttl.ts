import { badInput, printable } from "../errors.js";

/**
 * The shortest leaf lifetime swarm-mtls issues, one rule for `issue --ttl`, the `mtls.ttl` label and `leaf.ttl`:
 * shorter certificates would expire between two reconciles (the schedule runs every 5 minutes by default).
 */
export const MIN_LEAF_TTL_SECONDS = 300;

/** Throws bad input naming `what` and the text the operator gave when `seconds` is below the minimum. */
export function checkMinLeafTtl(seconds: number, what: string, text: string | undefined): number {
  if (seconds < MIN_LEAF_TTL_SECONDS) throw badInput(`${what}: '${printable(text ?? `${seconds}s`)}' is shorter than the minimum of 5m`);
  return seconds;
}

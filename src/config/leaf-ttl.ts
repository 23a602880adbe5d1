import { badInput, printable } from "../errors.js";
import { parseDuration } from "./duration.js";

/**
 * The shortest leaf lifetime swarm-mtls issues, one rule wherever a lifetime comes from: `issue --ttl`, the
 * `mtls.ttl` label, `leaf.ttl`, `identities[].ttl` (embedded mode), `ca.maxLeafTtl` / `init --max-leaf-ttl`, the
 * `ttl` of `POST /v1/sign`, and, as the last guard, the CA's own leaf planner. Shorter certificates would expire
 * between two reconciles (the schedule runs every 5 minutes by default).
 */
export const MIN_LEAF_TTL_SECONDS = 300;

/** Throws bad input naming `what` and the text the operator gave when `seconds` is below the minimum. */
export function checkMinLeafTtl(seconds: number, what: string, text: string | undefined): number {
  if (seconds < MIN_LEAF_TTL_SECONDS) throw badInput(`${what}: '${printable(text ?? `${seconds}s`)}' is shorter than the minimum of 5m`);
  return seconds;
}

/** A leaf lifetime in the one duration grammar (`90m`, `24h`, `1h30m`, `7d`), held to the minimum. */
export function parseLeafTtl(text: string, what: string): number {
  return checkMinLeafTtl(parseDuration(text, what), what, text);
}

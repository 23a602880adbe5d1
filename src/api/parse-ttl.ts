import { badInput } from "../errors.js";
import { parseDuration } from "../config/duration.js";
import { checkMinLeafTtl } from "../config/leaf-ttl.js";

/** Longest lifetime the API accepts at all (the CA's own bound is checked by the control plane): 366 days. */
export const MAX_TTL_SECONDS = 366 * 86400;

/**
 * A requested certificate lifetime in seconds: a duration in the one grammar of config, labels and CLI (`90m`,
 * `24h`, `1h30m`, `7d`) or a whole number of seconds, held to the one minimum (5m) and to MAX_TTL_SECONDS.
 * Throws MtlsError("bad-input") naming `field` and the value given.
 */
export function parseTtl(ttl: string | number, field = "ttl"): number {
  let seconds: number;
  if (typeof ttl === "number") {
    if (!Number.isSafeInteger(ttl) || ttl < 1) throw badInput(`${field} must be a positive whole number of seconds`);
    seconds = ttl;
  } else {
    seconds = parseDuration(ttl, field);
  }
  checkMinLeafTtl(seconds, field, typeof ttl === "number" ? `${ttl}s` : ttl);
  if (seconds > MAX_TTL_SECONDS) throw badInput(`${field} must be at most ${MAX_TTL_SECONDS / 86400}d`);
  return seconds;
}

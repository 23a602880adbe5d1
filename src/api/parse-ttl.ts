import { badInput } from "../errors.js";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Longest lifetime the API accepts at all (the CA's own bound is checked by the control plane): 366 days. */
export const MAX_TTL_SECONDS = 366 * 86400;

/**
 * A requested certificate lifetime in seconds, from `90m` / `24h` / `7d` / `3600s` or a number of seconds.
 * Throws MtlsError("bad-input") naming `field` when it is not a positive whole duration within MAX_TTL_SECONDS.
 */
export function parseTtl(ttl: string | number, field = "ttl"): number {
  let seconds: number;
  if (typeof ttl === "number") {
    seconds = ttl;
  } else {
    const m = /^([1-9][0-9]{0,9})([smhd])$/.exec(ttl);
    if (m === null) throw badInput(`${field} must be a duration like 90m, 24h or 7d, or a number of seconds`);
    seconds = Number(m[1]) * (UNIT_SECONDS[m[2] ?? "s"] ?? 1);
  }
  if (!Number.isSafeInteger(seconds) || seconds < 1) throw badInput(`${field} must be a positive whole number of seconds`);
  if (seconds > MAX_TTL_SECONDS) throw badInput(`${field} must be at most ${MAX_TTL_SECONDS / 86400}d`);
  return seconds;
}

import { badInput, printable } from "../errors.js";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400, y: 365 * 86400 };
/**
 * The one duration grammar (config, labels, CLI flags, the HTTP API): one or more <number><unit> parts, units
 * s m h d w y, e.g. `90s`, `30m`, `1h30m`, `7d`. Also the HTTP API's JSON-schema pattern for `ttl`.
 */
export const DURATION_PATTERN = "^(?:[0-9]{1,9}[smhdwy])+$";
const DURATION_RE = new RegExp(DURATION_PATTERN);

/**
 * Parses an operator duration ("90s", "30m", "24h", "7d", "1y", "1h30m") into whole seconds.
 * `what` names the field or label in the error message.
 */
export function parseDuration(text: string, what = "duration"): number {
  const s = String(text).trim().toLowerCase();
  if (!DURATION_RE.test(s)) {
    throw badInput(`${what}: '${printable(text)}' is not a duration (examples: 90m, 24h, 7d)`);
  }
  let total = 0;
  for (const m of s.matchAll(/(\d+)([smhdwy])/g)) {
    total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
  }
  if (total <= 0) throw badInput(`${what}: '${printable(text)}' must be longer than zero`);
  if (!Number.isSafeInteger(total)) throw badInput(`${what}: '${printable(text)}' is too long`);
  return total;
}

/** Formats seconds the way operators write them: the two largest units ("7d", "1h30m", "90s"). */
export function formatDuration(seconds: number): string {
  const sign = seconds < 0 ? "-" : "";
  let rest = Math.abs(Math.round(seconds));
  if (rest === 0) return "0s";
  const parts: string[] = [];
  for (const [unit, size] of [["y", UNIT_SECONDS.y], ["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    const n = Math.floor(rest / (size as number));
    if (n > 0) {
      parts.push(`${n}${unit}`);
      rest -= n * (size as number);
    }
    if (parts.length === 2) break;
  }
  return sign + parts.join("");
}

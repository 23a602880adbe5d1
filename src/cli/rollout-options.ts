import { parseDuration } from "../config/duration.js";
import { badInput } from "../errors.js";

/** `--concurrency` and `--timeout`, shared by `rotate` and `rotate-ca`; undefined = the config's value. */
export function parseRolloutOptions(o: { concurrency?: string; timeout?: string }): { concurrency?: number; timeoutSeconds?: number } {
  let concurrency: number | undefined;
  if (o.concurrency !== undefined) {
    concurrency = Number(o.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw badInput(`--concurrency: '${o.concurrency}' must be a whole number from 1 to 64`);
  }
  const timeoutSeconds = o.timeout ? parseDuration(o.timeout, "--timeout") : undefined;
  return { concurrency, timeoutSeconds };
}

/**
 * Progress of service rollouts on stderr for people, one line per change (the convergence wait polls every second or
 * so); none with --json, whose output is the result alone.
 */
export function progressPrinter(json: boolean): ((p: { service: string; step: string; detail: string }) => void) | undefined {
  if (json) return undefined;
  const last = new Map<string, string>();
  return (p) => {
    const line = `  ${p.service}: ${p.step} ${p.detail}`;
    if (last.get(p.service) === line) return;
    last.set(p.service, line);
    process.stderr.write(`${line}\n`);
  };
}

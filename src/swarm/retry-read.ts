import { setTimeout as sleepMs } from "node:timers/promises";
import { DockerCallError } from "./docker-error.js";
import { isMtlsError } from "../errors.js";

/**
 * Whether a failed engine call is worth trying again when it only reads: the connection broke (reset, hang-up,
 * refused while the daemon restarts) or the engine answered 5xx (a manager between Raft leaders answers 500/503).
 * Not a 4xx (the request is wrong; asking again gives the same answer) and not a timeout (waiting again would double
 * an already long wait).
 */
export function isTransientReadFailure(e: unknown): boolean {
  if (!isMtlsError(e, "docker") || !(e.cause instanceof DockerCallError)) return false;
  const { statusCode, engineMessage } = e.cause;
  if (statusCode !== undefined) return statusCode >= 500 && statusCode <= 599;
  return /ECONNRESET|EPIPE|ECONNREFUSED|socket hang up/i.test(engineMessage) && !/timeout|ETIMEDOUT/i.test(engineMessage);
}

export interface ReadRetryParams {
  /** Tries in all. Default 3. */
  attempts?: number;
  /** Delay before the second try, ms; doubles each time. Default 200. */
  backoffMs?: number;
  /** Injectable sleep. Default: timers/promises. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs an idempotent read (GET) again after a transient failure, at most `attempts` times in all with doubling
 * backoff; anything else, and the last failure, is thrown as it is. Never used for calls that change state: a
 * create or update whose answer was lost may have taken effect (the reconcile finds out on its next read).
 */
export async function retryRead<T>(read: () => Promise<T>, p: ReadRetryParams = {}): Promise<T> {
  const attempts = Math.max(1, p.attempts ?? 3);
  const sleep = p.sleep ?? ((ms: number) => sleepMs(ms).then(() => undefined));
  let backoff = p.backoffMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (e) {
      if (attempt >= attempts || !isTransientReadFailure(e)) throw e;
      await sleep(backoff);
      backoff *= 2;
    }
  }
}

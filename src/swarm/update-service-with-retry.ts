import { setTimeout as sleepMs } from "node:timers/promises";
import { isMtlsError, MtlsError } from "../errors.js";
import type { ServiceSpec } from "./docker-types.js";
import { isOutOfSequence } from "./docker-error.js";
import type { ServiceRecord, Swarm } from "./swarm.js";

export interface ServiceUpdateRetryParams {
  /** Tries in all (inspect → patch → update) before an out-of-sequence error is thrown. Default 5. */
  attempts?: number;
  /** Delay before the second try, ms; doubles each time (with jitter). Default 100. */
  backoffMs?: number;
  /** Injectable sleep. Default: timers/promises. */
  sleep?: (ms: number) => Promise<void>;
  /** Injectable randomness in [0,1) for jitter. Default Math.random. */
  random?: () => number;
}

export interface ServiceUpdateResult {
  /** The service as read right before the successful update (or the no-change decision). */
  before: ServiceRecord;
  /** The `Version.Index` the update was sent with: pass it to `waitForRollout`. */
  updatedFromVersion: number;
  /** False when `patch` returned null (nothing to change, no update sent). */
  changed: boolean;
  /** Tries used. */
  attempts: number;
}

/**
 * inspect → patch → update with the read `Version.Index`; when the engine says "update out of sequence" (someone
 * updated in between), re-reads and patches again, up to `attempts` times with backoff; when every try was refused,
 * the engine's error is thrown with "(still out of sequence after N tries)" added. `patch` returning null means "no
 * change". Other errors are thrown at once.
 */
export async function updateServiceWithRetry(
  swarm: Swarm,
  serviceId: string,
  patch: (s: ServiceRecord) => ServiceSpec | null,
  p: ServiceUpdateRetryParams = {},
): Promise<ServiceUpdateResult> {
  const attempts = Math.max(1, p.attempts ?? 5);
  const sleep = p.sleep ?? ((ms: number) => sleepMs(ms).then(() => undefined));
  const random = p.random ?? Math.random;
  let backoff = p.backoffMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    const before = await swarm.inspectService(serviceId);
    const spec = patch(before);
    if (spec === null) return { before, updatedFromVersion: before.version, changed: false, attempts: attempt };
    try {
      await swarm.updateService(before.id, before.version, spec);
      return { before, updatedFromVersion: before.version, changed: true, attempts: attempt };
    } catch (e) {
      if (!isOutOfSequence(e)) throw e;
      if (attempt >= attempts) {
        if (attempts > 1 && isMtlsError(e)) throw new MtlsError(e.code, `${e.message} (still out of sequence after ${attempts} tries: someone keeps updating this service)`, { cause: e.cause });
        throw e;
      }
      await sleep(Math.round(backoff * (0.5 + random())));
      backoff *= 2;
    }
  }
}

import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import { acquireLease, readLease } from "../swarm/lease.js";
import type { Swarm } from "../swarm/swarm.js";

/** Refused because another rotator holds a live lease; `heldUntil` is its expiry as read (null: unknown). */
export class LeaseHeldError extends MtlsError {
  constructor(
    message: string,
    readonly heldUntil: Date | null,
  ) {
    super("lease-held", message);
  }
}

export interface LeaseRunParams {
  ttlSeconds: number;
  /** Lease name; default mtls.lock. */
  name?: string;
  /** Who we are, shown to whoever finds the lease held; default <hostname>:<pid>. */
  owner?: string;
  logger: Logger;
}

/**
 * Runs `work` while holding the rotation lease, renewing it every third of its lifetime. When someone else holds
 * it, fails at once with a LeaseHeldError (code "lease-held") naming the holder and its expiry. If the lease is lost
 * mid-run, the signal given to `work` aborts.
 */
export async function withLease<T>(swarm: Swarm, p: LeaseRunParams, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const owner = p.owner ?? `${hostname()}:${process.pid}`;
  const lease = await acquireLease(swarm, { name: p.name, owner, ttlSeconds: p.ttlSeconds });
  if (!lease) {
    const held = await readLease(swarm, { name: p.name });
    const who = held ? `held by ${held.owner} until ${held.expiresAt.toISOString()}` : "held";
    throw new LeaseHeldError(`another rotation is running (lease ${p.name ?? "mtls.lock"} ${who}); try again when it finishes`, held?.expiresAt ?? null);
  }
  const ac = new AbortController();
  // Every rollout in flight listens on this one signal (up to --concurrency 64): no leak warning for that.
  setMaxListeners(0, ac.signal);
  const timer = setInterval(() => {
    lease.renew().then(
      (ok) => {
        if (!ok) {
          p.logger.error({ component: "lease" }, "lease lost; stopping after the current step");
          ac.abort(new MtlsError("lease-held", "the rotation lease was lost (taken over by another rotator)"));
        }
      },
      (e: unknown) => p.logger.warn({ component: "lease", err: (e as Error).message }, "lease renewal failed; will retry"),
    );
  }, Math.max(1000, (p.ttlSeconds * 1000) / 3));
  timer.unref();
  try {
    return await work(ac.signal);
  } finally {
    clearInterval(timer);
    await lease.release().catch((e: unknown) => p.logger.warn({ component: "lease", err: (e as Error).message }, "could not release the lease; it expires by itself"));
  }
}

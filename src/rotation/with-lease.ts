import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import type { Clock } from "../clock.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import { acquireLease, readLease } from "../swarm/lease.js";
import type { Swarm } from "../swarm/swarm.js";

/**
 * Refused because another rotator holds a live lease; `heldUntil` is its expiry as the holder wrote it (its clock:
 * a hint for when to try again, null: unknown).
 */
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
  /** Wall clock for the lease's informational expiry label. */
  now: Clock;
}

/**
 * Runs `work` while holding the rotation lease; the lease renews itself (compare-and-swap) every third of its
 * lifetime. When someone else holds it, fails at once with a LeaseHeldError (code "lease-held") naming the holder.
 * The signal given to `work` aborts when the lease is lost or cannot be renewed before it would expire: `work` must
 * stop acting then.
 */
export async function withLease<T>(swarm: Swarm, p: LeaseRunParams, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const owner = p.owner ?? `${hostname()}:${process.pid}`;
  const log = p.logger.child({ component: "lease" });
  const lease = await acquireLease(swarm, {
    name: p.name,
    owner,
    ttlSeconds: p.ttlSeconds,
    now: p.now,
    onRenewError: (e) => log.warn({ err: (e as Error).message }, "lease renewal failed; retrying until the lease would expire"),
  });
  if (!lease) {
    const held = await readLease(swarm, { name: p.name, now: p.now });
    const who = held ? `held by ${held.owner} until about ${held.expiresAt.toISOString()}` : "held";
    throw new LeaseHeldError(`another rotation is running (lease ${p.name ?? "mtls.lock"} ${who}); try again when it finishes`, held?.expiresAt ?? null);
  }
  // Every rollout in flight listens on this one signal (up to --concurrency 64): no leak warning for that.
  setMaxListeners(0, lease.signal);
  const onLost = (): void => log.error({ reason: (lease.signal.reason as Error)?.message }, "lease lost; stopping");
  lease.signal.addEventListener("abort", onLost, { once: true });
  try {
    return await work(lease.signal);
  } finally {
    lease.signal.removeEventListener("abort", onLost);
    await lease.release().catch((e: unknown) => log.warn({ err: (e as Error).message }, "could not release the lease; it expires by itself"));
  }
}

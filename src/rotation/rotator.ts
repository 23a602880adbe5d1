/**
 * The rotator: the one place the rotation lease is taken. Rotating services, running CA rotation steps and pruning
 * all go through it, each under the lease (a dry run changes nothing and takes no lease); the work gets the lease's
 * signal, joined with the caller's stop signal, and must stop acting when it aborts. Nothing else calls the lease.
 */
import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import type { Authority } from "../ca/index.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load-config.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaStore } from "../store/ca-store.js";
import { acquireLease, readLease } from "../swarm/lease.js";
import type { Swarm } from "../swarm/swarm.js";
import { rotateCa, type CaRotateParams, type CaRotationReport } from "./ca-rotation.js";
import { prune, type PruneParams, type PruneReport } from "./prune.js";
import { rotate, type RotateParams, type RotationObserver, type RotationReport } from "./rollout.js";

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

export interface RotatorParams {
  swarm: Swarm;
  config: Config;
  logger: Logger;
  now: Clock;
  /** Aborted when the caller stops (serve's grace ran out, a benchmark interrupted): work in flight stops too. */
  stopSignal?: AbortSignal;
  /** Who we are, shown to whoever finds the lease held; default <hostname>:<pid>. */
  owner?: string;
}

export interface Rotator {
  /** Reconciles services (see `rotate`). */
  rotate(deps: { authority: Authority; observer?: RotationObserver }, p: RotateParams): Promise<RotationReport>;
  /** Runs CA rotation steps (see `rotateCa`). */
  rotateCa(deps: { store: CaStore; kek: Uint8Array; observer?: RotationObserver }, p: CaRotateParams): Promise<CaRotationReport>;
  /** Removes managed objects no service uses (see `prune`). */
  prune(p: PruneParams): Promise<PruneReport>;
}

/** The lease's signal, or it joined with the caller's stop signal (whichever aborts first). */
function orStop(signal: AbortSignal, stop: AbortSignal | undefined): AbortSignal {
  const both = stop ? AbortSignal.any([signal, stop]) : signal;
  // Every rollout in flight listens on this one signal (up to --concurrency 64): no leak warning for that.
  setMaxListeners(0, both);
  return both;
}

export function createRotator(r: RotatorParams): Rotator {
  const underLease = <T>(dryRun: boolean | undefined, work: (signal?: AbortSignal) => Promise<T>): Promise<T> => (dryRun ? work() : withLease(r, (signal) => work(orStop(signal, r.stopSignal))));
  const common = { swarm: r.swarm, config: r.config, logger: r.logger, now: r.now };
  const signalled = (signal?: AbortSignal) => (signal ? { signal } : {});
  return {
    rotate: (deps, p) => underLease(p.dryRun, (signal) => rotate({ ...common, ...deps }, { ...p, ...signalled(signal) })),
    rotateCa: (deps, p) => underLease(p.dryRun, (signal) => rotateCa({ ...common, ...deps }, { ...p, ...signalled(signal) })),
    prune: (p) => underLease(p.dryRun, (signal) => prune(r.swarm, { ...p, ...signalled(signal) })),
  };
}

/**
 * Runs `work` while holding the rotation lease; the lease renews itself (compare-and-swap) every third of its
 * lifetime. When someone else holds it, fails at once with a LeaseHeldError (code "lease-held") naming the holder.
 * The signal given to `work` aborts when the lease is lost or cannot be renewed before it would expire.
 */
async function withLease<T>(r: RotatorParams, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const name = r.config.rotation.leaseName;
  const log = r.logger.child({ component: "lease" });
  const lease = await acquireLease(r.swarm, {
    name,
    owner: r.owner ?? `${hostname()}:${process.pid}`,
    ttlSeconds: r.config.seconds.leaseTtl,
    now: r.now,
    onRenewError: (e) => log.warn({ err: (e as Error).message }, "lease renewal failed; retrying until the lease would expire"),
  });
  if (!lease) {
    const held = await readLease(r.swarm, { name, now: r.now });
    const who = held ? `held by ${held.owner} until about ${held.expiresAt.toISOString()}` : "held";
    throw new LeaseHeldError(`another rotation is running (lease ${name} ${who}); try again when it finishes`, held?.expiresAt ?? null);
  }
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

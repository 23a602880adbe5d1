/**
 * The rotation lease: one Docker config (`mtls.lock` by default) whose labels say who holds it. It is created once
 * and then only ever changed by compare-and-swap: a config update carrying the `Version.Index` that was read (the
 * engine refuses it with "update out of sequence" when someone changed the config in between). Taking a free lease,
 * renewing it, taking over a dead holder's lease and releasing it are all such updates, so there is no moment without
 * a lease and no way for two rotators to both succeed.
 *
 * Expiry never compares clocks of different hosts. The holder counts its lifetime on its own monotonic clock from
 * the moment it sent its last successful update, and stops (its signal aborts) a margin before `ttl` has passed
 * without a renewal. Another rotator takes the lease over only after it has itself watched the same config version
 * stay unchanged for a whole `ttl` on its own monotonic clock — by then the holder has stopped. The expiry label
 * (holder's wall clock) is informational: it is shown by `status` and only used to refuse at once, never to take over.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { setTimeout as sleepMs } from "node:timers/promises";
import { isOutOfSequence, isNameConflict } from "./docker-error.js";
import type { ConfigRecord, Swarm } from "./swarm.js";
import type { Clock } from "../clock.js";
import { MtlsError } from "../errors.js";

export const LEASE_OWNER_LABEL = "io.swarm-mtls.lease.owner";
export const LEASE_EXPIRES_LABEL = "io.swarm-mtls.lease.expires";
/** A random value per acquisition: tells our own update from someone else's. */
export const LEASE_TOKEN_LABEL = "io.swarm-mtls.lease.token";
/** Counts the holder's renewals (informational; every update moves `Version.Index` anyway). */
export const LEASE_RENEWALS_LABEL = "io.swarm-mtls.lease.renewals";
/** The holder's TTL in seconds (a duration, no clock): a rival watches the lease at least this long before taking it. */
export const LEASE_TTL_LABEL = "io.swarm-mtls.lease.ttl-seconds";
/** `free` on a released lease. */
export const LEASE_STATE_LABEL = "io.swarm-mtls.lease.state";
export const DEFAULT_LEASE_NAME = "mtls.lock";
const LEASE_DATA = Buffer.from("swarm-mtls rotation lease: see the io.swarm-mtls.lease.* labels\n");

export interface LeaseAcquireParams {
  /** Config name holding the lease. Default `mtls.lock`. */
  name?: string;
  /** Who holds it (e.g. `<hostname>/<pid>` or a task id); shown by `status`. */
  owner: string;
  /** Lifetime without a renewal; the holder renews every third of it and stops a margin before it. */
  ttlSeconds: number;
  /**
   * How long to wait for a lease that looks abandoned (its expiry label has passed, or this process has already
   * watched it unchanged) to stay unchanged for a whole TTL before taking it over. Default: the TTL. 0: never wait.
   */
  takeoverWaitMs?: number;
  /** Renew on a timer while held (default true); the lease's `signal` aborts when a renewal cannot be made in time. */
  keepAlive?: boolean;
  /** Called when a renewal attempt fails (it is retried until the holder's deadline). */
  onRenewError?: (e: unknown) => void;
  /** Wall clock, for the informational expiry label (the caller's clock; take-over never relies on it). */
  now: Clock;
  /** Monotonic milliseconds. Default `performance.now()`. */
  monotonicMs?: () => number;
}

/** Who holds a lease and until when, as read from the Swarm. */
export interface LeaseInfo {
  name: string;
  /** Config id of the lease. */
  id: string;
  owner: string;
  /** The holder's own estimate (its wall clock); informational. */
  expiresAt: Date;
  /** Whether that estimate has passed by this host's clock (informational: take-over does not rely on it). */
  expired: boolean;
}

/** A lease we hold. */
export interface Lease extends LeaseInfo {
  /** Renews by compare-and-swap. False when the lease was lost (taken over, released or removed by someone else). */
  renew(): Promise<boolean>;
  /** Gives the lease up (a compare-and-swap to free: a lease taken over meanwhile is left alone). Stops the timer. */
  release(): Promise<void>;
  /** Aborts when the lease is lost or could not be renewed before the holder's deadline: stop acting at once. */
  readonly signal: AbortSignal;
}

const isFree = (c: ConfigRecord): boolean => c.labels[LEASE_STATE_LABEL] === "free" || !c.labels[LEASE_OWNER_LABEL];

function leaseInfo(c: ConfigRecord, now: Date): LeaseInfo {
  const expiresAt = new Date(c.labels[LEASE_EXPIRES_LABEL] ?? 0);
  const valid = !Number.isNaN(expiresAt.getTime());
  return {
    name: c.name,
    id: c.id,
    owner: c.labels[LEASE_OWNER_LABEL] ?? "",
    expiresAt: valid ? expiresAt : new Date(0),
    expired: !valid || expiresAt.getTime() <= now.getTime(),
  };
}

/** Reads the lease for status output; null when nobody holds it. */
export async function readLease(swarm: Swarm, p: { name?: string; now: Clock }): Promise<LeaseInfo | null> {
  const c = await swarm.findConfig(p.name ?? DEFAULT_LEASE_NAME);
  return c && !isFree(c) ? leaseInfo(c, p.now()) : null;
}

/** What this process has seen of other holders' leases: config id and version, and since when (monotonic ms). */
const observed = new Map<string, { id: string; version: number; since: number }>();

/**
 * Decides, from what this process has watched, whether a held lease may be taken over: only a version seen unchanged
 * for a whole TTL (measured here) is abandoned. Returns the milliseconds still to watch (0: take it over now).
 */
export function takeoverWaitLeft(seen: { id: string; version: number; since: number } | undefined, c: { id: string; version: number }, nowMs: number, ttlMs: number): number {
  if (!seen || seen.id !== c.id || seen.version !== c.version) return ttlMs;
  return Math.max(0, seen.since + ttlMs - nowMs);
}

/**
 * The holder's deadline: a margin before `ttl` after the update was sent, so that work in flight when the signal
 * aborts ends before anyone may take over (a fifth of the TTL, at least a second, at most half the TTL).
 */
export function holderDeadline(sentAtMs: number, ttlMs: number): number {
  return sentAtMs + ttlMs - Math.min(ttlMs / 2, Math.max(1000, ttlMs / 5));
}

interface Ctx {
  swarm: Swarm;
  name: string;
  owner: string;
  ttlMs: number;
  now: Clock;
  mono: () => number;
}

const heldLabels = (x: Ctx, token: string, renewals: number): Record<string, string> => ({
  [LEASE_OWNER_LABEL]: x.owner,
  [LEASE_TOKEN_LABEL]: token,
  [LEASE_RENEWALS_LABEL]: String(renewals),
  [LEASE_EXPIRES_LABEL]: new Date(x.now().getTime() + x.ttlMs).toISOString(),
  [LEASE_TTL_LABEL]: String(x.ttlMs / 1000),
});

/** How long a rival must watch this lease unchanged: the longer of its holder's TTL and ours. */
function watchMs(c: ConfigRecord, ttlMs: number): number {
  const theirs = Number(c.labels[LEASE_TTL_LABEL]);
  return Number.isFinite(theirs) && theirs > 0 ? Math.max(ttlMs, theirs * 1000) : ttlMs;
}

/**
 * One compare-and-swap of the lease's labels. Returns the config as it is after our update (with its new version), or
 * null when someone else changed it first. Throws on other failures (the caller retries or gives up).
 */
async function swap(x: Ctx, c: ConfigRecord, labels: Record<string, string>): Promise<ConfigRecord | null> {
  try {
    await x.swarm.updateConfigLabels(c, labels);
  } catch (e) {
    if (!isOutOfSequence(e)) throw e;
    // Out of sequence: either someone else moved first, or our own earlier update landed unseen (same token/count).
    const now = await x.swarm.findConfig(x.name);
    const ours = now && now.id === c.id && now.labels[LEASE_TOKEN_LABEL] === labels[LEASE_TOKEN_LABEL] && now.labels[LEASE_RENEWALS_LABEL] === labels[LEASE_RENEWALS_LABEL];
    return ours ? now : null;
  }
  const after = await x.swarm.findConfig(x.name);
  return after && after.id === c.id && after.labels[LEASE_TOKEN_LABEL] === labels[LEASE_TOKEN_LABEL] ? after : null;
}

function holdLease(x: Ctx, c: ConfigRecord, token: string, sentAt: number, p: LeaseAcquireParams): Lease {
  const ac = new AbortController();
  let current = c;
  let renewals = Number(c.labels[LEASE_RENEWALS_LABEL] ?? 0);
  let deadline = holderDeadline(sentAt, x.ttlMs);
  let timer: NodeJS.Timeout | undefined;
  let released = false;
  const lose = (why: string): void => {
    if (!ac.signal.aborted) ac.abort(new MtlsError("lease-held", why));
  };
  const info = leaseInfo(c, x.now());
  const lease: Lease = {
    ...info,
    signal: ac.signal,
    async renew() {
      if (ac.signal.aborted) return false;
      const start = x.mono();
      if (start >= deadline) {
        lose("the rotation lease expired before it could be renewed; stopping");
        return false;
      }
      const next = await swap(x, current, heldLabels(x, token, renewals + 1));
      if (next === null) {
        lose("the rotation lease was lost (taken over by another rotator)");
        return false;
      }
      renewals += 1;
      current = next;
      deadline = holderDeadline(start, x.ttlMs);
      lease.expiresAt = leaseInfo(next, x.now()).expiresAt;
      return true;
    },
    async release() {
      released = true;
      if (timer) clearTimeout(timer);
      if (ac.signal.aborted) return;
      ac.abort(new MtlsError("lease-held", "the rotation lease was released"));
      await swap(x, current, { [LEASE_STATE_LABEL]: "free", [LEASE_TOKEN_LABEL]: token, [LEASE_RENEWALS_LABEL]: "released" });
    },
  };
  if (p.keepAlive !== false) {
    const every = Math.max(200, x.ttlMs / 3);
    const retry = Math.max(100, x.ttlMs / 20);
    // A renewal can hang rather than fail (on a manager cut off from the others the config update waits for a leader
    // until the engine's own deadline, DeadlineExceeded, which is longer than the holder's margin): the deadline is
    // kept by this timer alone, not by the renewal's answer.
    let watchdog: NodeJS.Timeout | undefined;
    const watchDeadline = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => lose("the rotation lease could not be renewed before it expired (the engine did not answer); stopping"), Math.max(0, deadline - x.mono()));
      watchdog.unref();
    };
    ac.signal.addEventListener("abort", () => clearTimeout(watchdog), { once: true });
    watchDeadline();
    const tick = (): void => {
      if (released || ac.signal.aborted) return;
      lease.renew().then(
        (ok) => {
          if (!ok) return;
          watchDeadline();
          schedule(every);
        },
        (e: unknown) => {
          p.onRenewError?.(e);
          schedule(retry);
        },
      );
    };
    const schedule = (ms: number): void => {
      if (released || ac.signal.aborted) return;
      // The next attempt comes before the deadline (the watchdog, not this timer, stops the holder when it passes).
      timer = setTimeout(tick, Math.max(0, Math.min(ms, deadline - x.mono())));
      timer.unref();
    };
    schedule(every);
  }
  return lease;
}

/**
 * Takes the rotation lease. Creates the config when it does not exist, takes a free one by compare-and-swap, and
 * takes over one whose version it has watched unchanged for a whole TTL (waiting up to `takeoverWaitMs` when the
 * lease looks abandoned). Returns null while someone else holds it (or won a race for it).
 */
export async function acquireLease(swarm: Swarm, p: LeaseAcquireParams): Promise<Lease | null> {
  const x: Ctx = { swarm, name: p.name ?? DEFAULT_LEASE_NAME, owner: p.owner, ttlMs: p.ttlSeconds * 1000, now: p.now, mono: p.monotonicMs ?? (() => performance.now()) };
  const token = randomBytes(12).toString("hex");
  const waitMax = p.takeoverWaitMs;
  const waitStart = x.mono();
  for (;;) {
    const sentAt = x.mono();
    let c = await swarm.findConfig(x.name);
    if (!c) {
      try {
        await swarm.createConfig({ name: x.name, data: LEASE_DATA, labels: heldLabels(x, token, 0) });
      } catch (e) {
        if (isNameConflict(e)) continue; // someone created it first: read theirs
        throw e;
      }
      c = await swarm.findConfig(x.name);
      return c && c.labels[LEASE_TOKEN_LABEL] === token ? holdLease(x, c, token, sentAt, p) : null;
    }
    if (isFree(c)) {
      const mine = await swap(x, c, heldLabels(x, token, 0));
      return mine ? holdLease(x, mine, token, sentAt, p) : null;
    }
    const key = x.name;
    const seen = observed.get(key);
    const left = takeoverWaitLeft(seen, c, x.mono(), watchMs(c, x.ttlMs));
    if (!seen || seen.id !== c.id || seen.version !== c.version) observed.set(key, { id: c.id, version: c.version, since: x.mono() });
    if (left === 0) {
      observed.delete(key);
      const mine = await swap(x, c, heldLabels(x, token, 0));
      return mine ? holdLease(x, mine, token, sentAt, p) : null;
    }
    // Held. Refuse at once unless the lease looks abandoned (expiry label passed, or watched unchanged before) and
    // the caller is willing to wait for the watch to cover a whole TTL.
    const looksAbandoned = leaseInfo(c, x.now()).expired || (seen?.id === c.id && seen.version === c.version);
    // Without a bound, a caller waits out the watch it started (measured from its first sighting, so the time of
    // that first read never counts twice); with one, it gives up when the watch would end past the bound.
    if (!looksAbandoned || (waitMax !== undefined && x.mono() - waitStart + left > waitMax)) return null;
    await sleepMs(Math.min(left, Math.max(100, x.ttlMs / 10)));
  }
}

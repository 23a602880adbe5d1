import { isNameConflict } from "./docker-error.js";
import type { ConfigRecord, Swarm } from "./swarm.js";

export const LEASE_OWNER_LABEL = "io.swarm-mtls.lease.owner";
export const LEASE_EXPIRES_LABEL = "io.swarm-mtls.lease.expires";
export const DEFAULT_LEASE_NAME = "mtls.lock";

export interface LeaseAcquireParams {
  /** Config name holding the lease. Default `mtls.lock`. */
  name?: string;
  /** Who holds it (e.g. `<hostname>/<pid>` or a task id); shown by `status`. */
  owner: string;
  /** Lifetime; a lease past its expiry may be taken over. */
  ttlSeconds: number;
  /** Injectable clock. Default `new Date()`. */
  now?: () => Date;
}

/** Who holds a lease and until when, as read from the Swarm. */
export interface LeaseInfo {
  name: string;
  /** Config id of this lease generation. */
  id: string;
  owner: string;
  expiresAt: Date;
  /** Whether the expiry has passed at the time of reading. */
  expired: boolean;
}

/** A lease we hold. */
export interface Lease extends LeaseInfo {
  /** Pushes the expiry to now + ttl, if the lease is still ours. False when it was lost (taken over or removed). */
  renew(): Promise<boolean>;
  /** Gives the lease up (only our own generation is removed). */
  release(): Promise<void>;
}

function leaseInfo(c: ConfigRecord, now: Date): LeaseInfo {
  const expiresAt = new Date(c.labels[LEASE_EXPIRES_LABEL] ?? 0);
  const valid = !Number.isNaN(expiresAt.getTime());
  return {
    name: c.name,
    id: c.id,
    owner: c.labels[LEASE_OWNER_LABEL] ?? "",
    expiresAt: valid ? expiresAt : new Date(0),
    // A lease without a readable expiry is treated as expired, so a damaged lock cannot block rotation forever.
    expired: !valid || expiresAt.getTime() <= now.getTime(),
  };
}

/** Reads the lease for status output; null when nobody holds it. */
export async function readLease(swarm: Swarm, p: { name?: string; now?: () => Date } = {}): Promise<LeaseInfo | null> {
  const c = await swarm.findConfig(p.name ?? DEFAULT_LEASE_NAME);
  return c ? leaseInfo(c, (p.now ?? (() => new Date()))()) : null;
}

/** Creates the lease config; null when the name is taken (someone else holds it). */
async function tryCreate(swarm: Swarm, name: string, owner: string, expiresAt: Date): Promise<string | null> {
  try {
    return await swarm.createConfig({
      name,
      data: Buffer.from(JSON.stringify({ owner, expiresAt: expiresAt.toISOString() })),
      labels: { [LEASE_OWNER_LABEL]: owner, [LEASE_EXPIRES_LABEL]: expiresAt.toISOString() },
    });
  } catch (e) {
    if (isNameConflict(e)) return null;
    throw e;
  }
}

/**
 * Takes the rotation lease: a Docker config created atomically (a name conflict means it is held). An expired lease
 * is taken over by removing that exact generation (by id) and creating a new one; when two rotators race, the
 * second create conflicts and that one gets null. Returns null while someone else holds a live lease.
 */
export async function acquireLease(swarm: Swarm, p: LeaseAcquireParams): Promise<Lease | null> {
  const name = p.name ?? DEFAULT_LEASE_NAME;
  const now = p.now ?? (() => new Date());
  const ttlMs = p.ttlSeconds * 1000;

  const make = (id: string, expiresAt: Date): Lease => {
    const lease: Lease = {
      name,
      id,
      owner: p.owner,
      expiresAt,
      expired: false,
      async renew() {
        const current = await swarm.findConfig(name);
        if (!current || current.id !== lease.id) return false;
        const next = new Date(now().getTime() + ttlMs);
        await swarm.removeConfig(lease.id);
        const newId = await tryCreate(swarm, name, p.owner, next);
        if (newId === null) return false;
        lease.id = newId;
        lease.expiresAt = next;
        return true;
      },
      async release() {
        await swarm.removeConfig(lease.id);
      },
    };
    return lease;
  };

  // Two passes: the holder may release between our create and our read.
  for (let pass = 0; pass < 2; pass++) {
    const expiresAt = new Date(now().getTime() + ttlMs);
    const id = await tryCreate(swarm, name, p.owner, expiresAt);
    if (id !== null) return make(id, expiresAt);
    const held = await swarm.findConfig(name);
    if (!held) continue;
    const info = leaseInfo(held, now());
    if (!info.expired) return null;
    await swarm.removeConfig(held.id); // by id: if someone already took it over, this removes nothing
    const takenId = await tryCreate(swarm, name, p.owner, expiresAt);
    return takenId === null ? null : make(takenId, expiresAt);
  }
  return null;
}

import t from "tap";
import { systemClock } from "../../../src/clock.js";
import {
  acquireLease,
  holderDeadline,
  LEASE_EXPIRES_LABEL,
  LEASE_OWNER_LABEL,
  LEASE_STATE_LABEL,
  LEASE_TOKEN_LABEL,
  readLease,
  takeoverWaitLeft,
} from "../../../src/swarm/lease.js";
import { engineFailure, MemorySwarm } from "../../fixtures/swarm/memory-swarm.js";
import { dockerError } from "../../../src/swarm/docker-error.js";

const at = (iso: string) => () => new Date(iso);
const FUTURE = "2999-01-01T00:00:00.000Z";

t.test("first acquire wins, second gets null until release; release leaves a free lease, never a gap", async (t) => {
  const swarm = new MemorySwarm();
  const a = await acquireLease(swarm, { name: "l1", owner: "a", ttlSeconds: 60, now: at("2026-01-01T00:00:00Z"), keepAlive: false });
  t.ok(a);
  const labels = swarm.configs.get("l1")?.labels ?? {};
  t.equal(labels[LEASE_OWNER_LABEL], "a");
  t.equal(labels[LEASE_EXPIRES_LABEL], "2026-01-01T00:01:00.000Z", "expiry label: informational, the holder's clock");
  t.match(labels[LEASE_TOKEN_LABEL], /^[0-9a-f]{24}$/);
  t.equal(await acquireLease(swarm, { name: "l1", owner: "b", ttlSeconds: 60, now: at("2026-01-01T00:00:30Z") }), null);
  const info = await readLease(swarm, { name: "l1", now: at("2026-01-01T00:00:30Z") });
  t.same(info && { owner: info.owner, expired: info.expired }, { owner: "a", expired: false });
  await a?.release();
  t.equal(a?.signal.aborted, true, "a released lease's signal is aborted");
  t.equal(await readLease(swarm, { name: "l1", now: systemClock }), null, "nobody holds it");
  t.equal(swarm.configs.get("l1")?.labels[LEASE_STATE_LABEL], "free", "the config stays, marked free");
  const b = await acquireLease(swarm, { name: "l1", owner: "b", ttlSeconds: 60, keepAlive: false, now: systemClock });
  t.equal(b?.owner, "b", "a free lease is taken by compare-and-swap");
  t.equal(b?.id, a?.id, "same config: no remove, no re-create");
  t.notOk(swarm.calls.some((c) => c.startsWith("remove config")), "the lease config is never removed");
});

t.test("a lease of a dead holder is taken over only after this process watched it unchanged for a TTL", async (t) => {
  const swarm = new MemorySwarm();
  // The holder's label says it lives for centuries (its clock is wrong): that does not matter.
  swarm.putConfig("l2", { [LEASE_OWNER_LABEL]: "dead", [LEASE_EXPIRES_LABEL]: FUTURE });
  let mono = 0;
  const p = { name: "l2", owner: "b", ttlSeconds: 10, keepAlive: false, takeoverWaitMs: 0, monotonicMs: () => mono, now: systemClock };
  t.equal(await acquireLease(swarm, p), null, "first sight: refused at once");
  mono = 9_999;
  t.equal(await acquireLease(swarm, p), null, "unchanged for less than a TTL: refused");
  mono = 10_000;
  const b = await acquireLease(swarm, p);
  t.equal(b?.owner, "b", "unchanged for a whole TTL on our clock: taken over");
  t.equal(swarm.configs.get("l2")?.labels[LEASE_OWNER_LABEL], "b");
});

t.test("a holder that renews is never taken over, whatever the clocks say", async (t) => {
  const swarm = new MemorySwarm();
  let mono = 0;
  // The holder's wall clock is far behind: its expiry label has long passed by ours.
  const a = await acquireLease(swarm, { name: "l3", owner: "a", ttlSeconds: 10, keepAlive: false, now: at("2000-01-01T00:00:00Z"), monotonicMs: () => mono });
  const p = { name: "l3", owner: "b", ttlSeconds: 10, takeoverWaitMs: 0, keepAlive: false, monotonicMs: () => mono, now: systemClock };
  for (let i = 0; i < 5; i++) {
    t.equal(await acquireLease(swarm, p), null, `round ${i}: refused`);
    mono += 3_000;
    t.equal(await a?.renew(), true, `round ${i}: the holder renews`);
    mono += 3_000;
  }
  t.equal(swarm.configs.get("l3")?.labels[LEASE_OWNER_LABEL], "a");
});

t.test("renewal is a compare-and-swap: a lease changed by someone else is lost, and the signal aborts", async (t) => {
  const swarm = new MemorySwarm();
  const a = await acquireLease(swarm, { name: "l4", owner: "a", ttlSeconds: 60, keepAlive: false, now: systemClock });
  t.equal(await a?.renew(), true);
  const c = swarm.configs.get("l4")!;
  swarm.configs.set("l4", { ...c, labels: { [LEASE_OWNER_LABEL]: "rival", [LEASE_TOKEN_LABEL]: "r" }, version: c.version + 100 });
  t.equal(await a?.renew(), false, "renew says the lease is lost");
  t.equal(a?.signal.aborted, true);
  t.match(a?.signal.reason, { code: "lease-held", message: /lost/ });
  await a?.release();
  t.equal(swarm.configs.get("l4")?.labels[LEASE_OWNER_LABEL], "rival", "releasing a lost lease leaves the new holder's");
});

t.test("taking over races with a rival: the compare-and-swap lets only one win", async (t) => {
  const swarm = new MemorySwarm();
  swarm.putConfig("l5", { [LEASE_OWNER_LABEL]: "dead", [LEASE_EXPIRES_LABEL]: FUTURE });
  let mono = 0;
  const p = { name: "l5", owner: "b", ttlSeconds: 1, keepAlive: false, takeoverWaitMs: 0, monotonicMs: () => mono, now: systemClock };
  t.equal(await acquireLease(swarm, p), null, "watching starts");
  mono = 1000;
  // Another process takes it over between our read and our update.
  swarm.beforeUpdateConfig = () => {
    swarm.beforeUpdateConfig = undefined;
    const c = swarm.configs.get("l5")!;
    swarm.configs.set("l5", { ...c, labels: { [LEASE_OWNER_LABEL]: "rival", [LEASE_TOKEN_LABEL]: "r" }, version: c.version + 100 });
  };
  t.equal(await acquireLease(swarm, p), null, "our update is out of sequence: not ours");
  t.equal(swarm.configs.get("l5")?.labels[LEASE_OWNER_LABEL], "rival", "the rival keeps it");
});

t.test("a holder whose renewals fail stops before its lease could be taken over", async (t) => {
  const swarm = new MemorySwarm();
  const sentAt: number[] = [];
  const mono = () => performance.now();
  const a = await acquireLease(swarm, { name: "l6", owner: "a", ttlSeconds: 0.6, monotonicMs: () => {
    const v = mono();
    sentAt.push(v);
    return v;
  }, now: systemClock });
  t.ok(a);
  const acquiredAt = sentAt[0] as number;
  let failures = 0;
  swarm.beforeUpdateConfig = () => {
    failures++;
    throw dockerError("update config l6", engineFailure(500, "connection reset"));
  };
  const busy = setInterval(() => undefined, 50); // the holder's own work keeps the process alive (the lease timer does not)
  const stoppedAt = await new Promise<number>((resolve) => a!.signal.addEventListener("abort", () => resolve(mono()), { once: true }));
  clearInterval(busy);
  t.ok(failures >= 1, "renewals were tried");
  t.match(a!.signal.reason, { code: "lease-held", message: /could not be renewed|expired/ });
  t.ok(stoppedAt < acquiredAt + 600, "the holder stopped before its TTL had passed on its own clock (a rival needs a whole TTL more)");
  await a!.release();
});

t.test("a holder whose renewal hangs (a manager cut off from the others) still stops before its lease could be taken over", async (t) => {
  const swarm = new MemorySwarm();
  const mono = () => performance.now();
  let acquiredAt = 0;
  const a = await acquireLease(swarm, { name: "l7", owner: "a", ttlSeconds: 0.6, monotonicMs: () => (acquiredAt ||= mono()) && mono(), now: systemClock });
  t.ok(a);
  let hung = 0;
  // The engine takes the update and never answers (no leader): no error ever reaches the holder.
  swarm.beforeUpdateConfig = () => {
    hung++;
    return new Promise<void>(() => undefined);
  };
  const busy = setInterval(() => undefined, 50);
  const stopped = new Promise<number>((resolve) => a!.signal.addEventListener("abort", () => resolve(mono()), { once: true }));
  const stoppedAt = await Promise.race([stopped, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 5000))]);
  clearInterval(busy);
  t.not(stoppedAt, Infinity, "the lease's signal aborted (waited 5 s, the TTL is 0.6 s)");
  t.equal(hung, 1, "one renewal was sent and never answered");
  t.match(a!.signal.reason, { code: "lease-held", message: /could not be renewed before it expired/ });
  t.ok(stoppedAt < acquiredAt + 600, "the holder stopped before its TTL had passed on its own clock, without an answer");
  swarm.beforeUpdateConfig = undefined;
  await a!.release();
});

t.test("pure rules: take-over wait and holder deadline", async (t) => {
  t.equal(takeoverWaitLeft(undefined, { id: "x", version: 3 }, 50, 1000), 1000, "never seen: a whole TTL to watch");
  t.equal(takeoverWaitLeft({ id: "x", version: 3, since: 0 }, { id: "x", version: 4 }, 5000, 1000), 1000, "a new version restarts the watch");
  t.equal(takeoverWaitLeft({ id: "x", version: 3, since: 0 }, { id: "y", version: 3 }, 5000, 1000), 1000, "another config restarts it");
  t.equal(takeoverWaitLeft({ id: "x", version: 3, since: 100 }, { id: "x", version: 3 }, 600, 1000), 500);
  t.equal(takeoverWaitLeft({ id: "x", version: 3, since: 100 }, { id: "x", version: 3 }, 1100, 1000), 0);
  t.equal(holderDeadline(1000, 120_000), 1000 + 120_000 - 24_000, "a fifth of the TTL as margin");
  t.equal(holderDeadline(0, 3000), 2000, "at least a second");
});

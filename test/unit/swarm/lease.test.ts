import t from "tap";
import { acquireLease, LEASE_EXPIRES_LABEL, LEASE_OWNER_LABEL, readLease } from "../../../src/swarm/lease.js";
import { MemorySwarm } from "../../fixtures/swarm/memory-swarm.js";

const at = (iso: string) => () => new Date(iso);

t.test("first acquire wins, second gets null until release", async (t) => {
  const swarm = new MemorySwarm();
  const a = await acquireLease(swarm, { owner: "a", ttlSeconds: 60, now: at("2026-01-01T00:00:00Z") });
  t.ok(a);
  t.equal(a?.name, "mtls.lock");
  t.same(swarm.configs.get("mtls.lock")?.labels, { [LEASE_OWNER_LABEL]: "a", [LEASE_EXPIRES_LABEL]: "2026-01-01T00:01:00.000Z" });
  t.equal(await acquireLease(swarm, { owner: "b", ttlSeconds: 60, now: at("2026-01-01T00:00:30Z") }), null);
  const info = await readLease(swarm, { now: at("2026-01-01T00:00:30Z") });
  t.same(info && { owner: info.owner, expired: info.expired, expiresAt: info.expiresAt.toISOString() }, { owner: "a", expired: false, expiresAt: "2026-01-01T00:01:00.000Z" });
  await a?.release();
  t.equal(await readLease(swarm), null);
  t.ok(await acquireLease(swarm, { owner: "b", ttlSeconds: 60 }));
});

t.test("an expired lease is taken over", async (t) => {
  const swarm = new MemorySwarm();
  const old = swarm.putConfig("mtls.lock", { [LEASE_OWNER_LABEL]: "dead", [LEASE_EXPIRES_LABEL]: "2026-01-01T00:00:00.000Z" });
  const b = await acquireLease(swarm, { owner: "b", ttlSeconds: 60, now: at("2026-01-01T00:00:01Z") });
  t.equal(b?.owner, "b");
  t.not(b?.id, old.id);
  t.ok(swarm.calls.includes(`remove config ${old.id}`), "the dead generation was removed by id");
  t.equal(swarm.configs.get("mtls.lock")?.labels[LEASE_OWNER_LABEL], "b");
});

t.test("a lease without a readable expiry counts as expired", async (t) => {
  const swarm = new MemorySwarm();
  swarm.putConfig("mtls.lock", { [LEASE_OWNER_LABEL]: "x" });
  t.ok(await acquireLease(swarm, { owner: "b", ttlSeconds: 60 }));
});

t.test("take-over race: whoever creates first wins, the other gets null", async (t) => {
  const swarm = new MemorySwarm();
  swarm.putConfig("mtls.lock", { [LEASE_OWNER_LABEL]: "dead", [LEASE_EXPIRES_LABEL]: "2026-01-01T00:00:00.000Z" });
  let creates = 0;
  swarm.beforeCreateConfig = () => {
    // The second create is the take-over: a rival takes the lock just before ours lands.
    if (++creates === 2) swarm.putConfig("mtls.lock", { [LEASE_OWNER_LABEL]: "rival", [LEASE_EXPIRES_LABEL]: "2026-01-01T01:00:00.000Z" });
  };
  t.equal(await acquireLease(swarm, { owner: "b", ttlSeconds: 60, now: at("2026-01-01T00:00:01Z") }), null);
  t.equal(swarm.configs.get("mtls.lock")?.labels[LEASE_OWNER_LABEL], "rival", "the rival's lease was not removed");
});

t.test("renew moves the expiry while ours; fails once lost", async (t) => {
  const swarm = new MemorySwarm();
  let now = new Date("2026-01-01T00:00:00Z");
  const a = await acquireLease(swarm, { owner: "a", ttlSeconds: 60, now: () => now });
  now = new Date("2026-01-01T00:00:50Z");
  t.equal(await a?.renew(), true);
  t.equal(a?.expiresAt.toISOString(), "2026-01-01T00:01:50.000Z");
  t.equal(swarm.configs.get("mtls.lock")?.labels[LEASE_EXPIRES_LABEL], "2026-01-01T00:01:50.000Z");
  // Lost: expired and taken over by b.
  now = new Date("2026-01-01T00:03:00Z");
  const b = await acquireLease(swarm, { owner: "b", ttlSeconds: 60, now: () => now });
  t.ok(b);
  t.equal(await a?.renew(), false);
  await a?.release();
  t.equal(swarm.configs.get("mtls.lock")?.labels[LEASE_OWNER_LABEL], "b", "releasing a lost lease does not remove the new holder's");
});

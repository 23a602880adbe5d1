import t from "tap";
import { systemClock } from "../../../src/clock.js";
import { acquireLease, LEASE_OWNER_LABEL, readLease } from "../../../src/swarm/lease.js";
import { docker, removeByPrefix, requireSwarm, uniquePrefix } from "../../fixtures/swarm/sandbox.js";

const swarm = await requireSwarm();
const prefix = uniquePrefix();
t.teardown(() => removeByPrefix(swarm, prefix));

t.test("a held lease is not acquired twice; release frees it", async (t) => {
  const name = `${prefix}.lock`;
  const a = await acquireLease(swarm, { name, owner: "rotator-a", ttlSeconds: 300, now: systemClock });
  t.ok(a, "first acquire wins");
  t.equal((await docker("config", "inspect", "--format", `{{index .Spec.Labels "${LEASE_OWNER_LABEL}"}}`, name)).trim(), "rotator-a", "the docker CLI sees the holder");
  t.equal(await acquireLease(swarm, { name, owner: "rotator-b", ttlSeconds: 300, now: systemClock }), null, "second acquire returns null");
  const info = await readLease(swarm, { name, now: systemClock });
  t.equal(info?.owner, "rotator-a");
  t.equal(info?.expired, false);
  const [x, y] = await Promise.all([
    acquireLease(swarm, { name, owner: "c", ttlSeconds: 300, now: systemClock }),
    acquireLease(swarm, { name, owner: "d", ttlSeconds: 300, now: systemClock }),
  ]);
  t.same([x, y], [null, null], "concurrent acquires of a live lease both fail");
  await a?.release();
  t.equal(await readLease(swarm, { name, now: systemClock }), null);
  const b = await acquireLease(swarm, { name, owner: "rotator-b", ttlSeconds: 300, now: systemClock });
  t.equal(b?.owner, "rotator-b");
  await b?.release();
});

t.test("a crashed holder's lease is taken over after a TTL unchanged; the old holder can no longer renew", async (t) => {
  const name = `${prefix}.lock2`;
  const stale = await acquireLease(swarm, { name, owner: "crashed", ttlSeconds: 2, keepAlive: false, now: systemClock });
  t.ok(stale);
  t.equal(await acquireLease(swarm, { name, owner: "rotator-b", ttlSeconds: 2, takeoverWaitMs: 0, now: systemClock }), null, "refused while it may still live");
  const fresh = await acquireLease(swarm, { name, owner: "rotator-b", ttlSeconds: 2, takeoverWaitMs: 10_000, now: systemClock });
  t.equal(fresh?.owner, "rotator-b", "taken over");
  t.equal(fresh?.id, stale?.id, "by compare-and-swap on the same config: no gap");
  t.equal(await stale?.renew(), false, "the crashed holder lost it");
  await stale?.release();
  t.equal((await readLease(swarm, { name, now: systemClock }))?.owner, "rotator-b", "releasing a lost lease leaves the new holder's");
  t.equal(await fresh?.renew(), true, "renewed");
  t.equal((await readLease(swarm, { name, now: systemClock }))?.id, fresh?.id);
  await fresh?.release();
});

t.test("racing take-overs of an abandoned lease: exactly one wins", async (t) => {
  const name = `${prefix}.lock3`;
  await acquireLease(swarm, { name, owner: "crashed", ttlSeconds: 1, keepAlive: false, now: systemClock });
  const results = await Promise.all(["r1", "r2", "r3"].map((owner) => acquireLease(swarm, { name, owner, ttlSeconds: 1, takeoverWaitMs: 10_000, now: systemClock })));
  const winners = results.filter((l) => l !== null);
  t.equal(winners.length, 1, "one winner");
  t.equal((await readLease(swarm, { name, now: systemClock }))?.owner, winners[0]?.owner);
  await winners[0]?.release();
});

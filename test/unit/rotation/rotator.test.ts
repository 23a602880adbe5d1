/**
 * The rotator is the one place the rotation lease is taken: work runs while the lease is held and released after,
 * a dry run takes none, and a lease held by someone else refuses the work before it starts.
 */
import t from "tap";
import { systemClock } from "../../../src/clock.js";
import { loadConfig } from "../../../src/config/load-config.js";
import { createLogger } from "../../../src/log.js";
import type { PruneParams } from "../../../src/rotation/prune.js";
import { createRotator, LeaseHeldError } from "../../../src/rotation/rotator.js";
import { acquireLease, LEASE_STATE_LABEL, readLease, type LeaseInfo } from "../../../src/swarm/lease.js";
import { MemorySwarm } from "../../fixtures/swarm/memory-swarm.js";

/** Records who held the lease each time the work listed services (its first read of the swarm). */
class WatchedSwarm extends MemorySwarm {
  seen: (LeaseInfo | null)[] = [];
  override async listServices() {
    this.seen.push(await readLease(this, { name: "mtls.lock", now: systemClock }));
    return [];
  }
}

const config = loadConfig({ env: {} });
const logger = createLogger({ level: "silent", pretty: false });
const pruneAll = (dryRun: boolean): PruneParams => ({ scope: { stacks: [], identities: [], all: true }, caName: config.caStateName, labelPrefix: config.labelPrefix, keepBundle: false, dryRun });

t.test("prune runs while the rotator holds the lease, which is free again afterwards; a dry run takes no lease", async (t) => {
  const swarm = new WatchedSwarm();
  const rotator = createRotator({ swarm, config, logger, now: systemClock, owner: "rotator-under-test" });
  await rotator.prune(pruneAll(true));
  t.same(swarm.seen, [null], "dry run: nobody held the lease while it ran");
  t.notOk(swarm.configs.has("mtls.lock"), "and none was created");
  await rotator.prune(pruneAll(false));
  t.equal(swarm.seen[1]?.owner, "rotator-under-test", "the real run ran under our lease");
  t.equal(swarm.configs.get("mtls.lock")?.labels[LEASE_STATE_LABEL], "free", "released afterwards");
});

t.test("a lease held by another rotator refuses the work before it starts, naming the holder", async (t) => {
  const swarm = new WatchedSwarm();
  await acquireLease(swarm, { name: "mtls.lock", owner: "other-host:42", ttlSeconds: 300, keepAlive: false, now: systemClock });
  const rotator = createRotator({ swarm, config, logger, now: systemClock });
  const e = await rotator.prune(pruneAll(false)).then(() => null, (err: unknown) => err);
  t.ok(e instanceof LeaseHeldError, "a LeaseHeldError");
  t.match(e, { code: "lease-held", message: /another rotation is running \(lease mtls\.lock held by other-host:42 until about / });
  t.ok((e as LeaseHeldError).heldUntil instanceof Date, "with the holder's expiry, for the retry");
  t.same(swarm.seen, [], "the work never started");
  t.same((await rotator.prune(pruneAll(true))).dryRun, true, "a dry run still runs: it needs no lease");
});

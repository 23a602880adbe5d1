import t from "tap";
import { isMtlsError } from "../../../src/errors.js";
import { isOutOfSequence } from "../../../src/swarm/docker-error.js";
import { updateServiceWithRetry } from "../../../src/swarm/update-service-with-retry.js";
import { engineFailure, MemorySwarm } from "../../fixtures/swarm/memory-swarm.js";
import { service } from "../../fixtures/swarm/load-fixture.js";

const outOfSequence = () => engineFailure(500, "rpc error: code = Unknown desc = update out of sequence");

t.test("re-reads and retries on out-of-sequence, sending the fresh version", async (t) => {
  const swarm = new MemorySwarm();
  let version = 100;
  swarm.inspect = () => ({ ...service("plain"), version });
  let fails = 2;
  swarm.update = () => {
    if (fails-- > 0) {
      version += 1; // someone else updated in between
      throw outOfSequence();
    }
  };
  const sleeps: number[] = [];
  const patched: number[] = [];
  const r = await updateServiceWithRetry(swarm, "fx-plain", (s) => { patched.push(s.version); return { ...s.spec, Labels: { x: "1" } }; }, {
    sleep: async (ms) => { sleeps.push(ms); }, random: () => 0.5,
  });
  t.equal(r.changed, true);
  t.equal(r.attempts, 3);
  t.equal(r.updatedFromVersion, 102);
  t.equal(r.before.version, 102);
  t.same(patched, [100, 101, 102], "patch re-applied to each fresh read");
  t.same(swarm.calls.filter((c) => c.startsWith("update")).map((c) => c.split("@")[1]), ["100", "101", "102"]);
  t.same(sleeps, [100, 200], "backoff doubles");
});

t.test("gives up after the bounded attempts with the docker error", async (t) => {
  const swarm = new MemorySwarm();
  swarm.inspect = () => service("plain");
  swarm.update = () => { throw outOfSequence(); };
  const err = await updateServiceWithRetry(swarm, "fx-plain", (s) => s.spec, { attempts: 3, sleep: async () => {} }).catch((e: unknown) => e);
  t.ok(isMtlsError(err, "docker"));
  t.ok(isOutOfSequence(err));
  t.match((err as Error).message, /^docker: update service \w+ failed: 500 rpc error: .*update out of sequence \(still out of sequence after 3 tries: someone keeps updating this service\)$/, "the message says it gave up and why");
  t.equal(swarm.calls.filter((c) => c.startsWith("update")).length, 3);
});

t.test("other errors are not retried", async (t) => {
  const swarm = new MemorySwarm();
  swarm.inspect = () => service("plain");
  swarm.update = () => { throw engineFailure(400, "rpc error: code = InvalidArgument desc = secret not found"); };
  await t.rejects(updateServiceWithRetry(swarm, "fx-plain", (s) => s.spec, { sleep: async () => {} }), { code: "docker", message: /^docker: update service \w+ failed: 400 rpc error/ });
  t.equal(swarm.calls.filter((c) => c.startsWith("update")).length, 1);
});

t.test("null patch: no update sent", async (t) => {
  const swarm = new MemorySwarm();
  swarm.inspect = () => service("plain");
  const r = await updateServiceWithRetry(swarm, "fx-plain", () => null);
  t.equal(r.changed, false);
  t.equal(r.updatedFromVersion, service("plain").version);
  t.same(swarm.calls, ["inspect fx-plain"]);
});

import t from "tap";
import { waitForRollout } from "../../../src/swarm/wait-for-rollout.js";
import { MemorySwarm } from "../../fixtures/swarm/memory-swarm.js";
import { scenarios, service, tasks } from "../../fixtures/swarm/load-fixture.js";

const ids = scenarios.secretIds;
const newIds = [ids["fx.api.crt.v2"], ids["fx.api.key.v2"]];

/** A fake clock advanced by the injected sleep: no real waiting. */
function clock() {
  let ms = 0;
  const sleeps: number[] = [];
  return { now: () => ms, sleep: async (d: number) => { sleeps.push(d); ms += d; }, sleeps };
}

t.test("polls with growing delays until the captured rollout converges", async (t) => {
  const swarm = new MemorySwarm();
  const c = clock();
  let polls = 0;
  swarm.inspect = () => (polls < 3 ? service("rich-updating") : service("rich-updated"));
  swarm.taskList = () => (polls++ < 3 ? tasks("rich-updating") : tasks("rich-updated"));
  const seen: string[] = [];
  const r = await waitForRollout(swarm, {
    serviceId: "fx-rich", fromVersion: scenarios.fromVersion.rich, expectSecretIds: newIds, deadlineMs: 60_000,
    now: c.now, sleep: c.sleep, onProgress: (x) => seen.push(x.state),
  });
  t.equal(r.state, "converged");
  t.equal(r.timedOut, false);
  t.equal(r.polls, 4);
  t.same(seen, ["pending", "pending", "pending", "converged"]);
  t.same(c.sleeps, [250, 375, 563], "short first polls, growing");
});

t.test("delays cap at 1 s and the deadline ends the wait with the last reading", async (t) => {
  const swarm = new MemorySwarm();
  const c = clock();
  swarm.inspect = () => service("hostport-stuck");
  swarm.taskList = () => tasks("hostport-stuck");
  const r = await waitForRollout(swarm, {
    serviceId: "fx-hostport", fromVersion: scenarios.fromVersion.hostport, expectSecretIds: [ids["fx.api.crt.v2"]],
    deadlineMs: 5_000, now: c.now, sleep: c.sleep,
  });
  t.equal(r.state, "pending");
  t.equal(r.timedOut, true);
  t.match(r.reason, /host-mode port already in use/);
  t.equal(Math.max(...c.sleeps), 1_000);
  t.equal(c.sleeps.reduce((a, b) => a + b, 0), 5_000, "never sleeps past the deadline");
});

t.test("a failed rollout returns at once", async (t) => {
  const swarm = new MemorySwarm();
  const c = clock();
  swarm.inspect = () => service("rollback");
  swarm.taskList = () => tasks("rollback");
  const r = await waitForRollout(swarm, {
    serviceId: "fx-rollback", fromVersion: scenarios.fromVersion.rollback, expectSecretIds: [ids["fx.api.crt.v2"]], deadlineMs: 60_000, now: c.now, sleep: c.sleep,
  });
  t.equal(r.state, "failed");
  t.equal(r.failedTask?.exitCode, 7);
  t.same(c.sleeps, []);
});

t.test("abort stops the wait", async (t) => {
  const swarm = new MemorySwarm();
  const ac = new AbortController();
  swarm.inspect = () => service("hostport-stuck");
  swarm.taskList = () => tasks("hostport-stuck");
  const c = clock();
  await t.rejects(
    waitForRollout(swarm, {
      serviceId: "x", fromVersion: scenarios.fromVersion.hostport, expectSecretIds: [ids["fx.api.crt.v2"]], deadlineMs: 60_000,
      now: c.now, sleep: async (d) => { await c.sleep(d); ac.abort(new Error("shutting down")); }, signal: ac.signal,
    }),
    /shutting down/,
  );
});

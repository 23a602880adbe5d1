import t from "tap";
import { readRollout } from "../../../src/swarm/read-rollout.js";
import type { TaskRecord } from "../../../src/swarm/swarm.js";
import { scenarios, service, tasks } from "../../fixtures/swarm/load-fixture.js";

const ids = scenarios.secretIds;
const newIds = [ids["fx.api.crt.v2"], ids["fx.api.key.v2"]];
const crtV2 = [ids["fx.api.crt.v2"]];

t.test("mid-update (start-first, healthcheck starting): pending", async (t) => {
  const r = readRollout({ service: service("rich-updating"), tasks: tasks("rich-updating"), fromVersion: scenarios.fromVersion.rich, expectSecretIds: newIds });
  t.equal(r.state, "pending");
  t.equal(r.desired, 2);
  t.equal(r.runningNew, 0);
  t.equal(r.old, 2);
  t.match(r.reason, /0\/2 tasks running with the new secrets, 2 on the old ones/);
});

t.test("UpdateStatus 'completed' is not trusted while a new task is not running", async (t) => {
  const svc = service("rich-updating");
  svc.updateStatus = { state: "completed" };
  const r = readRollout({ service: svc, tasks: tasks("rich-updating"), fromVersion: scenarios.fromVersion.rich, expectSecretIds: newIds });
  t.equal(r.state, "pending");
});

t.test("all tasks on the new secrets: converged (old tasks shutting down do not count)", async (t) => {
  const r = readRollout({ service: service("rich-updated"), tasks: tasks("rich-updated"), fromVersion: scenarios.fromVersion.rich, expectSecretIds: newIds });
  t.same(r, { state: "converged", runningNew: 2, desired: 2, old: 0 });
});

t.test("expected config ids must be mounted too", async (t) => {
  const r = readRollout({
    service: service("rich-updated"), tasks: tasks("rich-updated"), fromVersion: scenarios.fromVersion.rich,
    expectSecretIds: newIds, expectConfigIds: ["not-mounted"],
  });
  t.equal(r.state, "failed", "the spec does not carry that config");
  t.match(r.reason, /no longer carries the new secrets\/configs/);
});

t.test("before the update is visible: pending, whatever the old UpdateStatus says", async (t) => {
  const r = readRollout({ service: service("rich"), tasks: tasks("rich"), fromVersion: scenarios.fromVersion.rich, expectSecretIds: newIds });
  t.equal(r.state, "pending");
  t.match(r.reason, /not visible yet/);
  const paused = service("paused");
  const stale = readRollout({ service: paused, tasks: tasks("paused"), fromVersion: paused.version, expectSecretIds: crtV2 });
  t.equal(stale.state, "pending", "a paused status from before our update is ignored");
});

t.test("start-first + host port: pending with the scheduler's reason", async (t) => {
  const r = readRollout({ service: service("hostport-stuck"), tasks: tasks("hostport-stuck"), fromVersion: scenarios.fromVersion.hostport, expectSecretIds: crtV2 });
  t.equal(r.state, "pending");
  t.equal(r.runningNew, 0);
  t.equal(r.old, 1);
  t.match(r.reason, /is pending: no suitable node \(host-mode port already in use on 1 node\)/);
});

t.test("rolled back: failed, with the new task's error and exit code", async (t) => {
  const r = readRollout({ service: service("rollback"), tasks: tasks("rollback"), fromVersion: scenarios.fromVersion.rollback, expectSecretIds: crtV2 });
  t.equal(r.state, "failed");
  t.match(r.reason, /^update rollback_completed \(rollback completed\); last failed task \w+ \(slot 1\): task: non-zero exit \(7\): exit code 7$/);
  t.equal(r.failedTask?.exitCode, 7);
  t.equal(r.failedTask?.err, "task: non-zero exit (7)");
  t.equal(r.runningNew, 0);
});

t.test("paused: failed, with exit code 3", async (t) => {
  const r = readRollout({ service: service("paused"), tasks: tasks("paused"), fromVersion: scenarios.fromVersion.paused, expectSecretIds: crtV2 });
  t.equal(r.state, "failed");
  t.match(r.reason, /^update paused/);
  t.match(r.reason, /non-zero exit \(3\): exit code 3/);
  t.equal(r.failedTask?.exitCode, 3);
});

t.test("new tasks failing again and again without UpdateStatus (failure action continue): failed", async (t) => {
  const svc = service("paused");
  delete svc.updateStatus;
  const failed = tasks("paused").find((x) => x.state === "failed")!;
  const many: TaskRecord[] = [1, 2, 3].map((i) => ({ ...failed, id: `f${i}`, updatedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) }));
  const two = readRollout({ service: svc, tasks: many.slice(0, 2), fromVersion: scenarios.fromVersion.paused, expectSecretIds: crtV2 });
  t.equal(two.state, "pending", "two failures: still retrying");
  t.match(two.reason, /last failed task f2/);
  const three = readRollout({ service: svc, tasks: many, fromVersion: scenarios.fromVersion.paused, expectSecretIds: crtV2 });
  t.equal(three.state, "failed");
  t.match(three.reason, /^3 new tasks failed; last failed task f3 \(slot 1\): task: non-zero exit \(3\): exit code 3$/);
  t.equal(readRollout({ service: svc, tasks: many.slice(0, 1), fromVersion: scenarios.fromVersion.paused, expectSecretIds: crtV2, maxNewTaskFailures: 1 }).state, "failed");
});

t.test("global service: desired = desired-running tasks, one per node", async (t) => {
  const g = service("global");
  const bundleId = g.secretRefs[0]?.SecretID ?? "";
  const r = readRollout({ service: g, tasks: tasks("global"), fromVersion: g.version - 1, expectSecretIds: [bundleId] });
  t.same(r, { state: "converged", runningNew: 1, desired: 1, old: 0 });
});

t.test("scaled to zero converges once no old task runs", async (t) => {
  const svc = { ...service("rich-updated"), replicas: 0 };
  t.equal(readRollout({ service: svc, tasks: [], fromVersion: scenarios.fromVersion.rich, expectSecretIds: newIds }).state, "converged");
});

t.test("captured trap: UpdateStatus 'completed' while the new task stays pending forever", async (t) => {
  const svc = service("hostport-completed-pending");
  t.equal(svc.updateStatus?.state, "completed", "the engine claims the update completed");
  const newCrt = svc.secretRefs.find((r) => r.File?.Name === "tls.crt")?.SecretID ?? "";
  const r = readRollout({ service: svc, tasks: tasks("hostport-completed-pending"), fromVersion: scenarios.fromVersion.hostportCompletedPending, expectSecretIds: [newCrt] });
  t.equal(r.state, "pending");
  t.equal(r.runningNew, 0);
  t.equal(r.old, 0, "the old task is gone too: nothing serves");
  t.match(r.reason, /is pending: no suitable node \(host-mode port already in use on 1 node\)/);
});

t.test("a new task that has run for less than the monitor window is not yet converged (it may crash a moment later)", async (t) => {
  const ts = tasks("rich-updated");
  const newest = Math.max(...ts.filter((x) => x.desiredState === "running").map((x) => x.updatedAt?.getTime() ?? 0));
  const params = { service: service("rich-updated"), tasks: ts, fromVersion: scenarios.fromVersion.rich, expectSecretIds: newIds, settleMs: 5000 };
  const young = readRollout({ ...params, nowMs: newest + 1000 });
  t.equal(young.state, "pending");
  t.match(young.reason, /running for less than 5s/);
  t.equal(readRollout({ ...params, nowMs: newest + 5000 }).state, "converged", "after the window it is converged");
});

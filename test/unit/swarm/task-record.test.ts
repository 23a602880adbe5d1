import t from "tap";
import { readTaskRecord } from "../../../src/swarm/task-record.js";
import { scenarios, service, tasks } from "../../fixtures/swarm/load-fixture.js";

t.test("running tasks carry secret/config ids, slot, node, container", async (t) => {
  const svc = service("rich");
  const ts = tasks("rich");
  t.equal(ts.length, 2);
  for (const task of ts) {
    t.equal(task.serviceId, svc.id);
    t.equal(task.desiredState, "running");
    t.equal(task.state, "running");
    t.equal(task.message, "started");
    t.ok(task.slot === 1 || task.slot === 2);
    t.match(task.nodeId, /^[a-z0-9]{25}$/);
    t.match(task.containerId, /^[0-9a-f]{64}$/);
    t.equal(task.exitCode, undefined, "a running task has no exit code");
    t.equal(task.err, undefined);
    t.ok(task.secretIds.includes(scenarios.secretIds["fx.api.crt.v1"]));
    t.equal(task.secretIds.length, 4);
    t.equal(task.configIds.length, 1);
    t.ok(task.updatedAt instanceof Date);
  }
});

t.test("failed task: err and exit code", async (t) => {
  const failed = tasks("paused").filter((x) => x.state === "failed");
  t.ok(failed.length >= 1);
  t.equal(failed[0]?.err, "task: non-zero exit (3)");
  t.equal(failed[0]?.exitCode, 3);
  const rb = tasks("rollback").find((x) => x.state === "failed");
  t.equal(rb?.exitCode, 7);
});

t.test("task that could not start: the engine's error, no exit code", async (t) => {
  const ts = tasks("failing");
  t.ok(ts.length >= 1);
  t.match(ts[0]?.err, /no such file or directory/);
  t.equal(ts[0]?.state, "failed");
  t.same(ts[0]?.secretIds, []);
});

t.test("pending task: scheduler's reason", async (t) => {
  const pending = tasks("hostport-stuck").find((x) => x.state === "pending");
  t.equal(pending?.err, "no suitable node (host-mode port already in use on 1 node)");
  t.equal(pending?.containerId, undefined);
});

t.test("global task has no slot", async (t) => {
  const [g] = tasks("global");
  t.equal(g?.slot, undefined);
  t.equal(g?.state, "running");
});

t.test("minimal JSON", async (t) => {
  t.same(readTaskRecord({ ID: "t1" }), { id: "t1", serviceId: "", desiredState: "", state: "", message: "", secretIds: [], configIds: [], version: 0 });
});

import t from "tap";
import { startFirstWithHostPorts, withForcedUpdate, withStopFirstUpdates } from "../../../src/swarm/update-order.js";
import { rawService } from "../../fixtures/swarm/load-fixture.js";

const spec = (n: string) => rawService(n).Spec ?? {};

t.test("detects start-first with a host-mode port (the captured stuck rollout)", async (t) => {
  t.equal(startFirstWithHostPorts(spec("hostport")), true);
  t.equal(startFirstWithHostPorts(spec("rich")), false, "start-first without host ports is fine");
  t.equal(startFirstWithHostPorts(spec("plain")), false);
  t.equal(startFirstWithHostPorts({ UpdateConfig: { Order: "start-first" }, EndpointSpec: { Ports: [{ PublishMode: "ingress", PublishedPort: 80, TargetPort: 80 }] } }), false);
  t.equal(startFirstWithHostPorts({ UpdateConfig: { Order: "stop-first" }, EndpointSpec: { Ports: [{ PublishMode: "host", PublishedPort: 80, TargetPort: 80 }] } }), false);
});

t.test("stop-first changes only UpdateConfig.Order", async (t) => {
  const before = spec("hostport");
  const after = withStopFirstUpdates(before);
  t.equal(after.UpdateConfig?.Order, "stop-first");
  t.equal(before.UpdateConfig?.Order, "start-first", "input untouched");
  t.same({ ...after, UpdateConfig: { ...after.UpdateConfig, Order: "start-first" } }, before);
  t.equal(startFirstWithHostPorts(after), false);
  t.same(withStopFirstUpdates(after), after, "idempotent");
  t.same(withStopFirstUpdates({ Name: "x" }), { Name: "x" }, "no UpdateConfig: left alone (a partial one would reset parallelism)");
});

t.test("forced update bumps only TaskTemplate.ForceUpdate", async (t) => {
  const before = spec("rich");
  const after = withForcedUpdate(before);
  t.equal(after.TaskTemplate?.ForceUpdate, (before.TaskTemplate?.ForceUpdate ?? 0) + 1);
  t.same({ ...after, TaskTemplate: { ...after.TaskTemplate, ForceUpdate: before.TaskTemplate?.ForceUpdate } }, before);
  t.same(withForcedUpdate({}), { TaskTemplate: { ForceUpdate: 1 } });
});

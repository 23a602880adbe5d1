import t from "tap";
import { differingPaths, docker, freePort, inspectService, requireSwarm, RotationWorld, secretsOf, type RotateJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

t.test("host-mode port with start-first: rolled out stop-first, with a warning", async (t) => {
  const svc = w.name("hostport");
  const port = await freePort();
  await w.createService(svc, { args: ["--publish", `mode=host,target=80,published=${port}`, "--update-order", "start-first"] });
  const before = await inspectService(svc);

  const plan = await w.cliJson<RotateJson>(["rotate", svc, "--dry-run"]);
  t.match(plan.data.outcomes, [{ service: svc, warnings: [/stop-first/] }], "the plan says so");

  const r = await w.cli(["rotate", svc, "--timeout", "90s"]);
  t.equal(r.code, 0, `rotation succeeds ${r.stderr}`);
  t.match(r.stdout, new RegExp(`${svc}\\s+rotated\\s+- → v1`));
  t.match(r.stdout, /warning: .*host-mode port.*stop-first/, "the output warns about stop-first");
  t.equal((await secretsOf(svc)).length, 2, "generation 1 exists");
  const after = await inspectService(svc);
  t.same(after.Spec.EndpointSpec, before.Spec.EndpointSpec, "the published port is kept");
  t.same(after.Spec.UpdateConfig, before.Spec.UpdateConfig, "docker service inspect: the operator's update order (start-first) is given back");
  t.same(
    differingPaths(before.Spec, after.Spec).filter((p) => !p.startsWith("TaskTemplate.ContainerSpec.Secrets")),
    [],
    "nothing but the secret references changed",
  );
  const tasks = (await docker("service", "ps", "-q", svc)).split("\n").filter(Boolean);
  t.equal(tasks.length, 2, "docker service ps: the first task and the rotated one, no third (restoring the order started no task)");
});

import t from "tap";
import { docker, inspectService, requireSwarm, RotationWorld, secretsOf, type RotateJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

t.test("references dropped by a redeploy: rotate re-attaches the same generation without a new certificate", async (t) => {
  const svc = w.name("redeploy");
  await w.createService(svc);
  const first = await w.cliJson<RotateJson>(["rotate", svc]);
  t.equal(first.code, 0, first.stderr);
  const attached = (await inspectService(svc)).Spec.TaskTemplate.ContainerSpec.Secrets ?? [];
  t.equal(attached.length, 3);
  const secretsBefore = await secretsOf(svc);

  // What `docker stack deploy` does to references its stack file does not name.
  await docker("service", "update", "-d", ...attached.flatMap((r) => ["--secret-rm", r.SecretName]), svc);
  t.same((await inspectService(svc)).Spec.TaskTemplate.ContainerSpec.Secrets ?? [], [], "the references are gone");

  const plan = await w.cliJson<RotateJson>(["rotate", svc, "--dry-run"]);
  t.match(plan.data.outcomes, [{ service: svc, result: "planned", reason: "reattach", generationAfter: 1 }], "the plan: re-attach generation 1");

  const r = await w.cliJson<RotateJson>(["rotate", svc]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.data.outcomes, [{ service: svc, result: "reattached", reason: "reattach", generationBefore: null, generationAfter: 1 }]);
  t.same((await secretsOf(svc)).map((s) => s.ID), secretsBefore.map((s) => s.ID), "docker secret ls: no new secret was created");
  const again = (await inspectService(svc)).Spec.TaskTemplate.ContainerSpec.Secrets ?? [];
  t.same(
    again.map((x) => [x.SecretID, x.File]).sort(),
    attached.map((x) => [x.SecretID, x.File]).sort(),
    "docker service inspect: the same secrets are mounted again, with the same files",
  );
  const next = await w.cliJson<RotateJson>(["rotate", svc]);
  t.match(next.data.outcomes, [{ service: svc, result: "up-to-date" }], "and then it is up to date");
});

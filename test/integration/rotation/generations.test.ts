import t from "tap";
import { differingPaths, inspectService, refsOf, requireSwarm, RotationWorld, secretsOf, type CliService, type RotateJson, type StatusJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

/** The spec minus the secret references: what must not change in a rotation. */
const withoutSecrets = (s: CliService): Record<string, unknown> => {
  const spec = structuredClone(s.Spec);
  delete spec.TaskTemplate.ContainerSpec.Secrets;
  return spec;
};

t.test("rotate --force: generation 2, then 3 prunes v1 and keeps v2; only the secret references change", async (t) => {
  const svc = w.name("gen");
  const plain = `${svc}-db-password`;
  const net = `${svc}-net`;
  await w.createPlainSecret(plain, "not-a-certificate\n");
  await w.createNetwork(net);
  await w.createService(svc, {
    args: [
      "--env", "APP_MODE=production",
      "--label", "team=payments",
      "--container-label", "owner=ops",
      "--mount", "type=tmpfs,dst=/scratch",
      "--network", net,
      "--secret", `source=${plain},target=db-password,mode=0400`,
      "--update-parallelism", "1",
      "--update-failure-action", "rollback",
      "--restart-delay", "1s",
    ],
  });

  const first = await w.cliJson<RotateJson>(["rotate", svc]);
  t.equal(first.code, 0, `first rotation exits 0 ${first.stderr}`);
  t.match(first.data.outcomes, [{ service: svc, result: "rotated", generationAfter: 1 }]);

  const before = await inspectService(svc);
  const second = await w.cliJson<RotateJson>(["rotate", svc, "--force"]);
  t.equal(second.code, 0, `forced rotation exits 0 ${second.stderr}`);
  t.match(second.data.outcomes, [{ service: svc, result: "rotated", reason: "forced", generationBefore: 1, generationAfter: 2 }]);
  const after = await inspectService(svc);

  const status = await w.cliJson<StatusJson>(["status"]);
  t.equal(status.code, 0);
  t.match(status.data.services, [{ service: svc, identity: svc, generation: 2, state: "ok" }], "status --json: generation 2");
  t.equal(status.data.services.length, 1, "status lists only this test's opted-in service");

  // Field by field: every path that differs lies under the secret references.
  const changed = differingPaths(before.Spec, after.Spec);
  t.ok(changed.length > 0, "the spec changed");
  t.same(changed.filter((p) => !p.startsWith("TaskTemplate.ContainerSpec.Secrets")), [], "docker service inspect: nothing outside the secret references changed");
  t.same(withoutSecrets(after), withoutSecrets(before), "Labels, Env, Mounts, Networks, UpdateConfig, … identical");
  for (const field of ["Labels", "UpdateConfig", "RollbackConfig", "EndpointSpec", "Mode"] as const) {
    t.same(after.Spec[field], before.Spec[field], `Spec.${field} unchanged`);
  }
  const cs = (s: CliService) => s.Spec.TaskTemplate.ContainerSpec;
  t.same(cs(after).Env, ["APP_MODE=production"], "Env unchanged");
  t.same(cs(after).Mounts, cs(before).Mounts, "Mounts unchanged");
  t.same((after.Spec.TaskTemplate as Record<string, unknown>).Networks, (before.Spec.TaskTemplate as Record<string, unknown>).Networks, "Networks unchanged");
  t.equal((after.Spec.TaskTemplate as Record<string, unknown>).ForceUpdate, (before.Spec.TaskTemplate as Record<string, unknown>).ForceUpdate, "ForceUpdate untouched");

  const refsBefore = refsOf(before);
  const refsAfter = refsOf(after);
  t.same(refsAfter.find(([name]) => name === plain), [plain, "db-password", "0", "0", "400"], "the operator's own secret stays as it was");
  t.same(refsAfter.map(([, ...file]) => file), refsBefore.map(([, ...file]) => file), "same targets, owners and modes");
  t.same(
    refsAfter.map(([name]) => name).filter((n) => n.includes(`${svc}.`)).sort(),
    [`mtls.${svc}.crt.v2`, `mtls.${svc}.key.v2`],
    "the managed references moved to generation 2",
  );

  const third = await w.cliJson<RotateJson>(["rotate", svc, "--force"]);
  t.equal(third.code, 0, `third rotation exits 0 ${third.stderr}`);
  t.match(third.data.outcomes, [{ service: svc, result: "rotated", generationBefore: 2, generationAfter: 3 }]);
  t.same(
    (await secretsOf(svc)).map((s) => s.Spec.Name),
    [`mtls.${svc}.crt.v2`, `mtls.${svc}.crt.v3`, `mtls.${svc}.key.v2`, `mtls.${svc}.key.v3`],
    "docker secret ls: v1 pruned, v2 kept for rollback, v3 current",
  );
  const last = await inspectService(svc);
  t.same(differingPaths(withoutSecrets(before), withoutSecrets(last)), [], "after three rotations the rest of the spec is still the operator's");
});

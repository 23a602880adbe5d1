import t from "tap";
import { inspectService, requireSwarm, RotationWorld, secretsOf, type RotateJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

t.test("two rotate --force at once on the same services: one rotates, the other exits 3; one generation moved", async (t) => {
  // A stop grace period the task really waits out (sleep as PID 1 ignores SIGTERM) keeps the first rollout busy
  // long enough for the second run to find the lease held, however slowly the second process starts.
  const slow = ["--stop-grace-period", "8s"];
  const a = w.name("a");
  const b = w.name("b");
  await w.createService(a, { args: slow });
  await w.createService(b, { args: slow });
  const first = await w.cliJson<RotateJson>(["rotate", "--all"]);
  t.equal(first.code, 0, `both get generation 1 ${first.stderr}`);

  const [x, y] = await Promise.all([w.cli(["rotate", "--force", a, b]), w.cli(["rotate", "--force", a, b])]);
  const runs = [x, y];
  const ok = runs.filter((r) => r.code === 0);
  const held = runs.filter((r) => r.code === 3);
  t.equal(ok.length, 1, `exactly one run succeeds (exit codes ${runs.map((r) => r.code).join(", ")})`);
  t.equal(held.length, 1, "the other exits 3");
  t.match(held[0]?.stderr, /another rotation is running/, "and says another rotation is running");
  t.match(held[0]?.stderr, new RegExp(`lease mtls\\.lock\\.${w.tag} held by `), "naming the lease and its holder");
  t.match(ok[0]?.stdout, new RegExp(`${a}\\s+rotated\\s+v1 → v2`));
  t.match(ok[0]?.stdout, new RegExp(`${b}\\s+rotated\\s+v1 → v2`));

  for (const svc of [a, b]) {
    const names = (await secretsOf(svc)).map((s) => s.Spec.Name);
    t.same(names, [`mtls.${svc}.crt.v1`, `mtls.${svc}.crt.v2`, `mtls.${svc}.key.v1`, `mtls.${svc}.key.v2`], `${svc}: exactly one new generation exists`);
    const refs = (await inspectService(svc)).Spec.TaskTemplate.ContainerSpec.Secrets?.map((r) => r.SecretName).filter((n) => n.includes(svc)).sort();
    t.same(refs, [`mtls.${svc}.crt.v2`, `mtls.${svc}.key.v2`], `${svc}: mounts generation 2`);
  }
  const status = await w.cliJson<{ lease: unknown }>(["status"]);
  t.equal(status.data.lease, null, "status: the lease was released");
});

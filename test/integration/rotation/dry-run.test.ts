import t from "tap";
import { docker, inspectService, requireSwarm, RotationWorld, secretsOf, type RotateJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

t.test("rotate --dry-run prints the plan and changes nothing", async (t) => {
  const svc = w.name("dry");
  await w.createService(svc);
  const before = await inspectService(svc);

  const json = await w.cliJson<RotateJson>(["rotate", svc, "--dry-run"]);
  t.equal(json.code, 0, `exit 0 ${json.stderr}`);
  t.equal(json.data.dryRun, true);
  t.match(json.data.outcomes, [{ service: svc, identity: svc, result: "planned", reason: "no-certificate", generationBefore: null, generationAfter: 1 }]);
  t.equal(json.data.outcomes.length, 1);

  const human = await w.cli(["rotate", svc, "--dry-run"]);
  t.equal(human.code, 0);
  t.match(human.stdout, /plan \(dry run, nothing changed\)/, "the output says it is a plan");
  t.match(human.stdout, new RegExp(`${svc}\\s+planned\\s+- → v1\\s+no-certificate`), "service, generation - → v1, reason");

  const forced = await w.cliJson<RotateJson>(["rotate", "--all", "--force", "--dry-run"]);
  t.match(forced.data.outcomes, [{ service: svc, result: "planned", reason: "forced", generationAfter: 1 }], "--all --force --dry-run plans too");

  const after = await inspectService(svc);
  t.same(after.Spec, before.Spec, "docker service inspect: spec identical");
  t.equal(after.Version.Index, before.Version.Index, "the service version did not move");
  // (Only this identity's secrets: other test files create and prune secrets of their own meanwhile.)
  t.same(await secretsOf(svc), [], "docker secret ls: no secret of this identity");
  t.equal((await docker("config", "ls", "-q", "--filter", `name=${w.env.SWARM_MTLS_ROTATION_LEASE_NAME}`)).trim(), "", "no lease was taken");
});

t.test("rotate --dry-run after a rotation: up to date, nothing changes", async (t) => {
  const svc = w.name("dry2");
  await w.createService(svc);
  t.equal((await w.cli(["rotate", svc])).code, 0);
  const before = await inspectService(svc);
  const secretsBefore = await secretsOf(svc);
  const json = await w.cliJson<RotateJson>(["rotate", svc, "--dry-run", "--force"]);
  t.match(json.data.outcomes, [{ service: svc, result: "planned", reason: "forced", generationBefore: 1, generationAfter: 2 }]);
  const plain = await w.cliJson<RotateJson>(["rotate", svc, "--dry-run"]);
  t.match(plain.data.outcomes, [{ service: svc, result: "up-to-date", generationBefore: 1, generationAfter: 1 }]);
  t.same((await inspectService(svc)).Spec, before.Spec, "spec identical");
  t.same(await secretsOf(svc), secretsBefore, "secrets identical");
});

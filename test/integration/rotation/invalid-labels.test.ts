import t from "tap";
import { inspectService, refsOf, requireSwarm, RotationWorld, secretsOf, type RotateJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

t.test("rotate --all: a service with an invalid label fails alone and is untouched; the others rotate", async (t) => {
  const bad = w.name("bad");
  const good = w.name("good");
  await w.createService(bad, { args: w.label("key-alg", "dsa") });
  await w.createService(good);
  const badBefore = await inspectService(bad);

  const human = await w.cli(["rotate", "--all"]);
  t.equal(human.code, 1, "exit 1");
  t.match(human.stdout, new RegExp(`${bad}\\s+invalid`), "the bad service is reported invalid");
  t.match(human.stdout, new RegExp(`label ${w.prefix.replace(/\./g, "\\.")}key-alg`), `the reason names the label ${w.prefix}key-alg`);
  t.match(human.stdout, /dsa/, "and the value");
  t.match(human.stdout, new RegExp(`${good}\\s+rotated\\s+- → v1`), "the good service rotated");

  t.same(await secretsOf(bad), [], "docker secret ls: nothing for the bad service");
  const badAfter = await inspectService(bad);
  t.same(badAfter.Spec, badBefore.Spec, "docker service inspect: the bad service is untouched");
  t.equal(badAfter.Version.Index, badBefore.Version.Index);
  t.same(refsOf(await inspectService(good)).map(([, target]) => target), ["ca.crt", "tls.crt", "tls.key"], "the good one mounts its certificate");

  const json = await w.cliJson<RotateJson>(["rotate", "--all"]);
  t.equal(json.code, 1, "still exit 1 while the label is wrong");
  const byName = new Map(json.data.outcomes.map((o) => [o.service, o]));
  t.match(byName.get(bad), { result: "invalid", identity: null, error: new RegExp(`label ${w.prefix}key-alg`) });
  t.match(byName.get(good), { result: "up-to-date", generationAfter: 1 }, "the good one is now up to date");
  const status = await w.cliJson<{ services: { service: string; state: string; reason: string }[] }>(["status"]);
  t.match(status.data.services.find((s) => s.service === bad), { state: "error", reason: /key-alg/ }, "status shows the error");
});

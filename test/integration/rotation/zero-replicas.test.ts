import { X509Certificate } from "node:crypto";
import t from "tap";
import { docker, inspectService, requireSwarm, RotationWorld, runningContainer, secretsOf, type RotateJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

t.test("services scaled to 0 are rotated by their spec update alone; scaled up, their task runs the new certificate", async (t) => {
  const idle = [w.name("idle-a"), w.name("idle-b"), w.name("idle-c")];
  const busy = w.name("busy");
  for (const s of idle) await w.createService(s, { args: ["--replicas", "0"] });
  await w.createService(busy);

  // One rollout with tasks at a time; the idle services beside it.
  const first = await w.cliJson<RotateJson>(["rotate", ...idle, busy, "--concurrency", "1"]);
  t.equal(first.code, 0, first.stderr);
  t.same(first.data.outcomes.map((o) => [o.service, o.result, o.generationAfter]).sort(), [...idle, busy].map((s) => [s, "rotated", 1]).sort(), "every service is rotated to generation 1");
  for (const s of idle) {
    const refs = (await inspectService(s)).Spec.TaskTemplate.ContainerSpec.Secrets ?? [];
    t.same(refs.map((r) => r.File.Name).sort(), ["ca.crt", "tls.crt", "tls.key"], `docker service inspect ${s}: the certificate, key and bundle are referenced`);
  }

  const second = await w.cliJson<RotateJson>(["rotate", "--force", ...idle]);
  t.equal(second.code, 0, second.stderr);
  t.same(second.data.outcomes.map((o) => [o.result, o.generationBefore, o.generationAfter]), idle.map(() => ["rotated", 1, 2]), "a forced rotation rolls each idle service to generation 2");
  const third = await w.cliJson<RotateJson>(["rotate", "--force", idle[0] as string]);
  t.equal(third.code, 0, third.stderr);
  const names = (await secretsOf(idle[0] as string)).map((s) => s.Spec.Name);
  t.notOk(names.some((n) => n.endsWith(".v1")), `generation 1 is pruned once generation 3 is out (kept: ${names.join(", ")})`);

  // Scaled up, the service's task mounts what the last rotation issued.
  const serial = third.data.outcomes[0]?.serial ?? "";
  await docker("service", "scale", "-d", `${idle[0]}=1`);
  const container = await runningContainer(idle[0] as string, 120_000);
  const leaf = new X509Certificate(await docker("exec", container, "cat", "/run/secrets/tls.crt"));
  t.equal(leaf.serialNumber.toLowerCase().replace(/^0+/, ""), serial.toLowerCase().replace(/^0+/, ""), "the task's tls.crt is generation 3's certificate");
  const status = await w.cliJson<RotateJson>(["rotate", idle[0] as string]);
  t.match(status.data.outcomes, [{ service: idle[0], result: "up-to-date" }], "and the scaled-up service is up to date");
});

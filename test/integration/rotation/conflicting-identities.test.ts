/**
 * Two services claiming one identity (`<prefix>identity` set to the same name) would overwrite each other's
 * certificates: `rotate` refuses both, with a reason that names the other, changes nothing on either, and still
 * rotates the other services of the run. A service that labels itself into a stack its name does not carry would
 * take a stack service's SPIFFE ID: it is refused, and the real stack service is not.
 */
import "reflect-metadata";
import { X509Certificate } from "node:crypto";
import t from "tap";
import { differingPaths, docker, inspectService, requireSwarm, runningContainer, RotationWorld, secretsOf, waitRunning, type RotateJson, type StatusJson } from "./fixtures/rotation-world.js";

t.before(requireSwarm);

t.test("two services with the same identity: both refused naming each other, nothing changed, others rotate", async (t) => {
  const w = new RotationWorld();
  const shared = w.name("shared");
  t.teardown(async () => {
    await w.cleanup();
    for (const s of await secretsOf(shared)) await docker("secret", "rm", s.ID).catch(() => undefined);
  });
  const [a, b, other] = [w.name("a"), w.name("b"), w.name("other")];
  await w.createService(a, { args: w.label("identity", shared) });
  await w.createService(b, { args: w.label("identity", shared) });
  await w.createService(other);
  for (const s of [a, b, other]) await waitRunning(s);
  const before = { [a]: (await inspectService(a)).Spec, [b]: (await inspectService(b)).Spec };

  // Named alone: the claim of the service outside the selection still counts.
  const alone = await w.cliJson<RotateJson>(["rotate", a]);
  t.equal(alone.code, 1, "exit 1: the service is invalid");
  const aloneA = alone.data.outcomes.find((o) => o.service === a);
  t.equal(aloneA?.result, "invalid");
  t.match(aloneA?.error, `identity '${shared}' is claimed by several services (${[a, b].sort().join(", ")}); give each its own ${w.prefix}identity`);

  const all = await w.cliJson<RotateJson>(["rotate", "--all"]);
  t.equal(all.code, 1, "exit 1: two services are invalid");
  for (const [svc, peer] of [[a, b], [b, a]] as const) {
    const o = all.data.outcomes.find((x) => x.service === svc);
    t.equal(o?.result, "invalid", `${svc} is refused`);
    t.match(o?.error, new RegExp(`identity '${shared}' is claimed by several services \\(.*${peer}.*\\)`), `${svc}'s reason names ${peer}`);
    t.same(differingPaths(before[svc], (await inspectService(svc)).Spec), [], `${svc}'s spec is unchanged`);
  }
  t.same(await secretsOf(shared), [], "no secret was made for the contested identity");
  t.equal(all.data.outcomes.find((o) => o.service === other)?.result, "rotated", "the other service is rotated");
  t.same((await secretsOf(other)).map((s) => s.Spec.Name), [`mtls.${other}.crt.v1`, `mtls.${other}.key.v1`], "and has generation 1");

  // The operator gives b its own identity: both now rotate, each under its own name.
  await docker("service", "update", "--detach", "--label-add", `${w.prefix}identity=${b}`, b);
  const fixed = await w.cliJson<RotateJson>(["rotate", a, b]);
  t.equal(fixed.code, 0, `both rotate once the claim is resolved\n${fixed.stderr}`);
  t.same(fixed.data.outcomes.map((o) => `${o.service} ${o.result} ${o.identity}`).sort(), [`${a} rotated ${shared}`, `${b} rotated ${b}`].sort());
});

t.test("a standalone service labelled into a stack: refused naming the label, the stack's own service gets the SPIFFE ID", async (t) => {
  const w = new RotationWorld();
  t.teardown(() => w.cleanup());
  const stack = w.name("stk");
  const short = w.name("api");
  const real = `${stack}_${short}`;
  const impostor = short; // would be spiffe://<td>/swarm/<stack>/<short> too
  const ns = ["--label", `com.docker.stack.namespace=${stack}`];
  await w.createService(real, { args: ns });
  await w.createService(impostor, { args: ns });
  for (const s of [real, impostor]) await waitRunning(s);
  const before = (await inspectService(impostor)).Spec;

  const run = await w.cliJson<RotateJson>(["rotate", "--all"]);
  t.equal(run.code, 1, "exit 1: one service is invalid");
  const bad = run.data.outcomes.find((o) => o.service === impostor);
  t.equal(bad?.result, "invalid", "the impostor is refused");
  t.equal(bad?.error, `label com.docker.stack.namespace: '${stack}' is not the stack of service '${impostor}' (a stack's services are named '${stack}_<name>'); remove the label or deploy the service with docker stack deploy`);
  t.same(differingPaths(before, (await inspectService(impostor)).Spec), [], "its spec is unchanged");
  t.same(await secretsOf(impostor), [], "no secret was made for it");
  t.equal(run.data.outcomes.find((o) => o.service === real)?.result, "rotated", "the stack's own service is rotated");
  const leaf = new X509Certificate(await docker("exec", await runningContainer(real), "cat", "/run/secrets/tls.crt"));
  t.match(leaf.subjectAltName, `URI:spiffe://test.swarm/swarm/${stack}/${short}`, "its mounted certificate carries the stack's SPIFFE ID");

  const status = await w.cliJson<StatusJson>(["status"]);
  const row = status.data.services.find((r) => r.service === impostor);
  t.equal(row?.state, "error", "status shows the impostor in error");
  t.match(row?.reason, `label com.docker.stack.namespace: '${stack}' is not the stack of service '${impostor}'`);
});

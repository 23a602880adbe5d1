/**
 * Docker API faults injected by a proxy in front of the real engine socket (test/helpers/docker-fault-proxy.ts):
 * a stale-version answer is retried, a failed call is named in the error and leaves nothing half-done.
 */
import "reflect-metadata";
import t from "tap";
import { runCli } from "../../helpers/cli.js";
import { startDockerFaultProxy, type DockerFaultProxy } from "../../helpers/docker-fault-proxy.js";
import { differingPaths, inspectService, requireSwarm, RotationWorld, secretsOf, waitRunning } from "../rotation/fixtures/rotation-world.js";

const SERVICE_UPDATE = /\/services\/[^/]+\/update/;
const SECRET_CREATE = /\/secrets\/create/;

t.before(requireSwarm);

async function setup(t: { teardown: (fn: () => Promise<void>) => void }, what: string): Promise<{ w: RotationWorld; svc: string; proxy: DockerFaultProxy; rotate: (args: string[]) => ReturnType<typeof runCli> }> {
  const w = new RotationWorld();
  const proxy = await startDockerFaultProxy();
  t.teardown(async () => {
    await proxy.close();
    await w.cleanup();
  });
  const svc = w.name(what);
  await w.createService(svc);
  await waitRunning(svc);
  return { w, svc, proxy, rotate: (args) => runCli(args, { env: { ...w.env, DOCKER_HOST: proxy.dockerHost } }) };
}

t.test("'update out of sequence' answers (409, then 500) on the service update are retried and the rotation succeeds", async (t) => {
  const { svc, proxy, rotate } = await setup(t, "oos");
  proxy.rules.push({ method: "POST", path: SERVICE_UPDATE, fault: "out-of-sequence", status: 409 }, { method: "POST", path: SERVICE_UPDATE, fault: "out-of-sequence", status: 500 });
  const r = await rotate(["rotate", svc]);
  t.equal(r.code, 0, `rotate succeeds\n${r.stdout}${r.stderr}`);
  t.equal(proxy.hits.length, 2, "the engine's refusal was injected twice");
  t.ok(proxy.calls.filter((c) => SERVICE_UPDATE.test(c)).length >= 3, "and the update was sent again each time");
  const refs = (await inspectService(svc)).Spec.TaskTemplate.ContainerSpec.Secrets ?? [];
  t.same(refs.map((s) => s.SecretName).filter((n) => !n.startsWith("mtls.bundle.")).sort(), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`], "the service runs generation 1");
});

t.test("a 500 on secret create: exit 1, the error names the call, nothing is half-done", async (t) => {
  const { svc, proxy, rotate } = await setup(t, "c500");
  const before = await inspectService(svc);
  proxy.rules.push({ method: "POST", path: SECRET_CREATE, fault: "server-error" });
  const r = await rotate(["rotate", svc]);
  t.equal(r.code, 1, "rotate exits 1");
  t.match(r.stdout + r.stderr, /create secret mtls\./, "the error names the call that failed");
  t.match(r.stdout + r.stderr, /injected fault/, "and passes on the engine's message");
  t.ok(proxy.hits.length >= 1, "the fault was injected");
  t.same(await secretsOf(svc), [], "no secret of the identity exists");
  t.same(differingPaths(before.Spec, (await inspectService(svc)).Spec), [], "the service spec is unchanged");
});

t.test("a connection reset on the service update: exit 1, the error names the call, the created secrets are removed", async (t) => {
  const { svc, proxy, rotate } = await setup(t, "rst");
  const before = await inspectService(svc);
  proxy.rules.push({ method: "POST", path: SERVICE_UPDATE, fault: "reset" });
  const r = await rotate(["rotate", svc]);
  t.equal(r.code, 1, "rotate exits 1");
  t.match(r.stdout + r.stderr, new RegExp(`update service ${svc}`), "the error names the call that failed");
  t.ok(proxy.hits.length >= 1, "the fault was injected");
  t.ok(proxy.calls.some((c) => SECRET_CREATE.test(c)), "secrets had been created before the update");
  t.same(await secretsOf(svc), [], "the secrets created for the rollout were removed");
  t.same(differingPaths(before.Spec, (await inspectService(svc)).Spec), [], "the service spec is unchanged");
});

t.test("a slow engine answer delays but does not break the rotation", async (t) => {
  const { svc, proxy, rotate } = await setup(t, "slow");
  proxy.rules.push({ method: "POST", path: SECRET_CREATE, fault: "slow", delayMs: 1500 });
  const r = await rotate(["rotate", svc]);
  t.equal(r.code, 0, `rotate succeeds\n${r.stdout}${r.stderr}`);
  t.equal(proxy.hits.length, 2, "both secret creates were slowed");
  t.equal((await secretsOf(svc)).length, 2, "the certificate and key secrets exist");
});

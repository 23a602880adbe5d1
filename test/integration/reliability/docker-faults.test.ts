/**
 * Docker API faults injected by a proxy in front of the real engine socket (test/helpers/docker-fault-proxy.ts):
 * a stale-version answer is retried (a persistent one only a bounded number of times), a failed call is named in the
 * error and leaves nothing half-done, an update whose answer was lost is not sent again, and a read (GET) cut off is
 * read again.
 */
import "reflect-metadata";
import t from "tap";
import { runCli } from "../../helpers/cli.js";
import { startDockerFaultProxy, type DockerFaultProxy } from "../../helpers/docker-fault-proxy.js";
import { differingPaths, inspectService, requireSwarm, RotationWorld, secretsOf, waitRunning, type RotateJson } from "../rotation/fixtures/rotation-world.js";

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

t.test("a persistent 'update out of sequence': the retries are bounded, exit 1 with a clear error, nothing is left", async (t) => {
  const { svc, proxy, rotate } = await setup(t, "oosx");
  const before = await inspectService(svc);
  proxy.rules.push({ method: "POST", path: SERVICE_UPDATE, fault: "out-of-sequence", times: Infinity });
  const r = await rotate(["rotate", svc]);
  t.equal(r.code, 1, "rotate exits 1");
  t.match(r.stdout + r.stderr, new RegExp(`update service ${svc} failed: 500 .*update out of sequence \\(still out of sequence after 5 tries`), "the error names the call, the engine's answer, and that it gave up");
  t.equal(proxy.calls.filter((c) => SERVICE_UPDATE.test(c)).length, 5, "the update was sent 5 times (the bound), no more");
  t.same(await secretsOf(svc), [], "the secrets created for the rollout were removed");
  t.same(differingPaths(before.Spec, (await inspectService(svc)).Spec), [], "the service spec is unchanged");
});

t.test("the engine applies the update but the answer is lost: the next run sees the applied state and sends nothing again", async (t) => {
  const { svc, proxy, rotate } = await setup(t, "lost");
  proxy.rules.push({ method: "POST", path: SERVICE_UPDATE, fault: "reset-after-forward", times: 1 });
  const r = await rotate(["rotate", svc]);
  t.equal(proxy.hits.length, 1, "the update's answer was dropped after the engine had it");
  t.equal(r.code, 1, "that run cannot know the update took effect: it reports the failed call");
  t.match(r.stdout + r.stderr, new RegExp(`update service ${svc} failed`), "naming it");
  const refs = (await inspectService(svc)).Spec.TaskTemplate.ContainerSpec.Secrets ?? [];
  t.same(refs.map((s) => s.SecretName).filter((n) => !n.startsWith("mtls.bundle.")).sort(), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`], "the engine did apply it");
  t.same((await secretsOf(svc)).map((s) => s.Spec.Name), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`], "the secrets it references were not removed from under it");

  const seen = proxy.calls.length;
  const again = await rotate(["--json", "rotate", svc]);
  t.equal(again.code, 0, `the next run succeeds\n${again.stderr}`);
  const o = (JSON.parse(again.stdout) as RotateJson).outcomes[0];
  t.equal(o?.result, "up-to-date", "it finds generation 1 in place");
  t.equal(o?.generationAfter, 1);
  t.notOk(proxy.calls.slice(seen).some((c) => SERVICE_UPDATE.test(c) || SECRET_CREATE.test(c)), "no secret created and no update sent again");
  t.same((await secretsOf(svc)).map((s) => s.Spec.Name), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`], "still exactly generation 1");
  await waitRunning(svc);
});

t.test("the crt secret is created, the key secret's create fails: the crt secret is removed, nothing referenced changes", async (t) => {
  const { svc, proxy, rotate } = await setup(t, "half");
  const before = await inspectService(svc);
  // The 2nd create of this service's generation-1 secrets (crt first, then key) fails.
  proxy.rules.push({ method: "POST", path: SECRET_CREATE, body: new RegExp(`"Name":"mtls\\.${svc}\\.(crt|key)\\.v1"`), nth: 2, fault: "server-error" });
  const r = await rotate(["rotate", svc]);
  t.equal(r.code, 1, "rotate exits 1");
  t.equal(proxy.hits.length, 1, "one call faulted");
  t.match(r.stdout + r.stderr, `create secret mtls.${svc}.key.v1 failed: 500 injected fault`, "the error names the key's create");
  t.ok(proxy.calls.some((c) => /^DELETE .*\/secrets\/\w+/.test(c)), "the crt secret was deleted");
  t.same(await secretsOf(svc), [], "no secret of the identity is left");
  t.same(differingPaths(before.Spec, (await inspectService(svc)).Spec), [], "the service spec is unchanged");
});

t.test("a reset connection on a read (GET) is read again, bounded: the rotation succeeds", async (t) => {
  const { svc, proxy, rotate } = await setup(t, "get");
  proxy.rules.push({ method: "GET", path: /\/services(\?|$)/, fault: "reset", times: 2 });
  const r = await rotate(["rotate", svc]);
  t.equal(r.code, 0, `rotate succeeds\n${r.stdout}${r.stderr}`);
  t.equal(proxy.hits.length, 2, "the service list was cut off twice, and read a third time");
  t.same((await secretsOf(svc)).map((s) => s.Spec.Name), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`]);
});

import { execFileSync } from "node:child_process";
import t from "tap";
import { patchServiceSecrets } from "../../../src/swarm/patch-service-secrets.js";
import { rolloutDeadlineMs, rolloutSettleMs } from "../../../src/swarm/rollout-deadline.js";
import { updateServiceWithRetry } from "../../../src/swarm/update-service-with-retry.js";
import { startFirstWithHostPorts, withForcedUpdate, withStopFirstUpdates } from "../../../src/swarm/update-order.js";
import { waitForRollout } from "../../../src/swarm/wait-for-rollout.js";
import { cliInspectService, docker, removeByPrefix, requireSwarm, TEST_IMAGE, uniquePrefix } from "../../fixtures/swarm/sandbox.js";

const swarm = await requireSwarm();
const prefix = uniquePrefix();
t.teardown(() => removeByPrefix(swarm, prefix));

/** Fast busybox service flags: the tests wait for real rollouts. */
const FAST = ["--stop-grace-period", "1s", "--update-delay", "0s", "--update-monitor", "1s", "--restart-delay", "1s"];

async function createService(name: string, args: string[]): Promise<string> {
  return (await docker("service", "create", "-d", "--name", name, ...FAST, ...args)).trim();
}

async function runningContainer(serviceId: string): Promise<string> {
  const tasks = await swarm.listTasks({ serviceId });
  const running = tasks.find((x) => x.desiredState === "running" && x.state === "running" && x.containerId);
  if (!running?.containerId) throw new Error("no running task");
  return running.containerId;
}

const strip = (spec: Record<string, unknown> & { TaskTemplate: { ContainerSpec: Record<string, unknown> } }) => {
  const c = structuredClone(spec);
  delete c.TaskTemplate.ContainerSpec.Secrets;
  return c;
};

t.test("a busybox service gets its new certificate secret; nothing else in the spec changes", async (t) => {
  const name = `${prefix}-api`;
  const crt1 = await swarm.createSecret({ name: `${prefix}.api.crt.v1`, data: Buffer.from("CERT-ONE\n") });
  const key1 = await swarm.createSecret({ name: `${prefix}.api.key.v1`, data: Buffer.from("KEY-ONE\n") });
  await swarm.createSecret({ name: `${prefix}.db-password`, data: Buffer.from("pw\n") });
  const id = await createService(name, [
    "--replicas", "2", "--env", "A=1", "--label", "example.enable=true", "--mount", "type=tmpfs,dst=/scratch",
    "--secret", `source=${prefix}.api.crt.v1,target=tls.crt`,
    "--secret", `source=${prefix}.api.key.v1,target=tls.key,uid=101,gid=101,mode=0400`,
    "--secret", `source=${prefix}.db-password,target=db-password`,
    TEST_IMAGE, "sleep", "3600",
  ]);
  const firstRollout = await waitForRollout(swarm, { now: Date.now, serviceId: id, fromVersion: 0, expectSecretIds: [crt1, key1], deadlineMs: 60_000 });
  t.equal(firstRollout.state, "converged", "service started");
  const cliBefore = await cliInspectService(name);

  const crt2 = await swarm.createSecret({ name: `${prefix}.api.crt.v2`, data: Buffer.from("CERT-TWO\n") });
  const key2 = await swarm.createSecret({ name: `${prefix}.api.key.v2`, data: Buffer.from("KEY-TWO\n") });
  const { before, updatedFromVersion, changed } = await updateServiceWithRetry(swarm, id, (s) =>
    patchServiceSecrets(s.spec, {
      replace: [
        { secretId: crt2, secretName: `${prefix}.api.crt.v2`, target: "tls.crt" },
        { secretId: key2, secretName: `${prefix}.api.key.v2`, target: "tls.key" },
      ],
    }),
  );
  t.equal(changed, true);
  t.equal(updatedFromVersion, cliBefore.Version.Index);
  const progress: string[] = [];
  const r = await waitForRollout(swarm, { now: Date.now,
    serviceId: id, fromVersion: updatedFromVersion, expectSecretIds: [crt2, key2],
    deadlineMs: rolloutDeadlineMs(before.spec), onProgress: (x) => progress.push(x.state),
  });
  t.equal(r.state, "converged", r.reason ?? "");
  t.equal(r.runningNew, 2);
  t.equal(r.desired, 2);
  t.equal(progress.at(-1), "converged");

  const cliAfter = await cliInspectService(name);
  t.same(strip(cliAfter.Spec as never), strip(cliBefore.Spec as never), "docker service inspect: only the secret references differ");
  const refs = (s: typeof cliAfter) =>
    (s.Spec.TaskTemplate.ContainerSpec.Secrets as { SecretName: string; File: unknown }[]).map((x) => [x.SecretName, x.File]).sort();
  t.same(refs(cliAfter), [
    [`${prefix}.api.crt.v2`, { Name: "tls.crt", UID: "0", GID: "0", Mode: 0o444 }],
    [`${prefix}.api.key.v2`, { Name: "tls.key", UID: "101", GID: "101", Mode: 0o400 }],
    [`${prefix}.db-password`, { Name: "db-password", UID: "0", GID: "0", Mode: 0o444 }],
  ]);
  const container = await runningContainer(id);
  t.equal(await docker("exec", container, "cat", "/run/secrets/tls.crt"), "CERT-TWO\n", "the task reads the new certificate");
  t.equal((await docker("exec", container, "stat", "-c", "%u:%g %a", "/run/secrets/tls.key")).trim(), "101:101 400", "key file owner and mode kept");

  const again = await updateServiceWithRetry(swarm, id, (s) => {
    const next = patchServiceSecrets(s.spec, { replace: [{ secretId: crt2, secretName: `${prefix}.api.crt.v2`, target: "tls.crt" }] });
    return JSON.stringify(next) === JSON.stringify(s.spec) ? null : next;
  });
  t.equal(again.changed, false, "patching again changes nothing (idempotent)");
});

t.test("update out of sequence: a concurrent update is re-read and both changes survive", async (t) => {
  const name = `${prefix}-seq`;
  const id = await createService(name, [TEST_IMAGE, "sleep", "3600"]);
  const v0 = (await swarm.inspectService(id)).version;
  const seen: number[] = [];
  const result = await updateServiceWithRetry(swarm, id, (s) => {
    seen.push(s.version);
    // Someone else updates the service between our read and our write (synchronously, so the race is certain).
    if (seen.length === 1) execFileSync("docker", ["service", "update", "-d", "--label-add", "theirs=yes", name], { stdio: "ignore" });
    return { ...s.spec, Labels: { ...(s.spec.Labels ?? {}), ours: "yes" } };
  });
  t.equal(result.attempts, 2, "the first write was refused as out of sequence, the second landed");
  t.equal(seen[0], v0);
  t.ok((seen[1] ?? 0) > v0, "the retry patched a fresh read");
  const labels = (await cliInspectService(name)).Spec.Labels as Record<string, string>;
  t.same(labels, { theirs: "yes", ours: "yes" }, "docker service inspect: both changes are there");
});

t.test("a new task that cannot start: the rollout reads failed with the task's error", async (t) => {
  const name = `${prefix}-bad`;
  const crt1 = await swarm.createSecret({ name: `${prefix}.bad.crt.v1`, data: Buffer.from("1") });
  const id = await createService(name, ["--update-failure-action", "pause", "--secret", `source=${prefix}.bad.crt.v1,target=tls.crt`, TEST_IMAGE, "sleep", "3600"]);
  t.equal((await waitForRollout(swarm, { now: Date.now, serviceId: id, fromVersion: 0, expectSecretIds: [crt1], deadlineMs: 60_000 })).state, "converged");
  const crt2 = await swarm.createSecret({ name: `${prefix}.bad.crt.v2`, data: Buffer.from("2") });
  const { before, updatedFromVersion } = await updateServiceWithRetry(swarm, id, (s) => {
    const spec = patchServiceSecrets(s.spec, { replace: [{ secretId: crt2, secretName: `${prefix}.bad.crt.v2`, target: "tls.crt" }] });
    // The new version of the workload exits at once (as a process that rejects its new certificate would).
    spec.TaskTemplate!.ContainerSpec!.Args = ["sh", "-c", "echo bad certificate >&2; exit 3"];
    return spec;
  });
  // As the rollout engine does: a new task must run for the service's monitor window before it counts (under load,
  // Docker may report the doomed task running for a moment before it exits).
  const r = await waitForRollout(swarm, { now: Date.now, serviceId: id, fromVersion: updatedFromVersion, expectSecretIds: [crt2], deadlineMs: rolloutDeadlineMs(before.spec), settleMs: rolloutSettleMs(before.spec) });
  t.equal(r.state, "failed", r.reason ?? "");
  t.equal(r.timedOut, false);
  t.match(r.reason, /task: non-zero exit \(3\)/);
  t.equal(r.failedTask?.exitCode, 3);
  t.equal(r.failedTask?.err, "task: non-zero exit (3)");
});

t.test("start-first with a host port: detected and rolled out stop-first; a stuck rollout is recovered", async (t) => {
  const name = `${prefix}-hp`;
  const port = String(20_000 + Math.floor(Math.random() * 9_000));
  const crt1 = await swarm.createSecret({ name: `${prefix}.hp.crt.v1`, data: Buffer.from("1") });
  const id = await createService(name, [
    "--update-order", "start-first", "--publish", `mode=host,published=${port},target=8080`,
    "--secret", `source=${prefix}.hp.crt.v1,target=tls.crt`, TEST_IMAGE, "httpd", "-f", "-p", "8080",
  ]);
  t.equal((await waitForRollout(swarm, { now: Date.now, serviceId: id, fromVersion: 0, expectSecretIds: [crt1], deadlineMs: 60_000 })).state, "converged");
  t.equal(startFirstWithHostPorts((await swarm.inspectService(id)).spec), true, "the trap is detected from the spec");
  const attach = (n: number, secretId: string) => ({ secretId, secretName: `${prefix}.hp.crt.v${n}`, target: "tls.crt" });

  // The intended path: the same update that swaps the secret switches the order to stop-first.
  const crt2 = await swarm.createSecret({ name: `${prefix}.hp.crt.v2`, data: Buffer.from("2") });
  const fixed = await updateServiceWithRetry(swarm, id, (s) =>
    startFirstWithHostPorts(s.spec) ? withStopFirstUpdates(patchServiceSecrets(s.spec, { replace: [attach(2, crt2)] })) : null);
  t.equal(fixed.changed, true);
  const r = await waitForRollout(swarm, { now: Date.now, serviceId: id, fromVersion: fixed.updatedFromVersion, expectSecretIds: [crt2], deadlineMs: rolloutDeadlineMs(fixed.before.spec) });
  t.equal(r.state, "converged", r.reason ?? "");
  t.equal(((await cliInspectService(name)).Spec.UpdateConfig as { Order: string }).Order, "stop-first");

  // Without the fix the new task stays pending; switching to stop-first alone leaves it pending
  // (the engine then says "completed"); a forced update recovers.
  await updateServiceWithRetry(swarm, id, (s) => ({ ...s.spec, UpdateConfig: { ...s.spec.UpdateConfig, Order: "start-first" } }));
  const crt3 = await swarm.createSecret({ name: `${prefix}.hp.crt.v3`, data: Buffer.from("3") });
  const stuck = await updateServiceWithRetry(swarm, id, (s) => patchServiceSecrets(s.spec, { replace: [attach(3, crt3)] }));
  const pending = await waitForRollout(swarm, { now: Date.now, serviceId: id, fromVersion: stuck.updatedFromVersion, expectSecretIds: [crt3], deadlineMs: 4_000 });
  t.equal(pending.state, "pending");
  t.equal(pending.timedOut, true);
  t.match(pending.reason, /host-mode port already in use/);
  const recovered = await updateServiceWithRetry(swarm, id, (s) => withForcedUpdate(withStopFirstUpdates(s.spec)));
  const done = await waitForRollout(swarm, { now: Date.now, serviceId: id, fromVersion: recovered.updatedFromVersion, expectSecretIds: [crt3], deadlineMs: rolloutDeadlineMs(recovered.before.spec) });
  t.equal(done.state, "converged", done.reason ?? "");
});

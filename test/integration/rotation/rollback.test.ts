import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { docker, inspectService, refsOf, requireSwarm, RotationWorld, runningContainer, secretsOf, type RotateJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

/**
 * A workload that pins the first certificate it is given (kept in a host directory) and exits 3 when a task starts
 * with any other: the first rotation works, every later one starts tasks that cannot run, as a process that
 * rejects its new certificate would.
 */
const PINNING = [
  "sh",
  "-c",
  "if [ -e /run/secrets/tls.crt ]; then if [ -e /state/pinned ]; then cmp -s /state/pinned /run/secrets/tls.crt || { echo 'certificate rejected' >&2; exit 3; }; else cp /run/secrets/tls.crt /state/pinned; fi; fi; exec sleep 3600",
];

t.test("a service whose new task cannot start is rolled back, stays on its old certificate, and no new secret is left", async (t) => {
  const svc = w.name("pin");
  const state = mkdtempSync(join(tmpdir(), "rot-pin-"));
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  await w.createService(svc, { args: ["--restart-delay", "1s", "--mount", `type=bind,src=${state},dst=/state`], command: PINNING });

  const first = await w.cliJson<RotateJson>(["rotate", svc, "--timeout", "60s"]);
  t.equal(first.code, 0, `generation 1 rolls out ${first.stderr}`);
  const before = await inspectService(svc);
  const secretsBefore = await secretsOf(svc);
  t.same(secretsBefore.map((s) => s.Spec.Name), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`]);

  const r = await w.cli(["rotate", svc, "--force", "--timeout", "60s"]);
  t.equal(r.code, 1, "rotate exits 1");
  t.match(r.stdout, new RegExp(`${svc}\\s+failed\\s+v1 → v1`), "the final table: failed, still on v1");
  t.match(r.stdout, /rolled back/, "the output says it was rolled back");
  t.match(r.stdout, /exit code 3|new tasks failed|paused/, "and names the failure");
  t.match(r.stderr, /rolling-back/, "progress showed the rollback");

  const after = await inspectService(svc);
  t.same(refsOf(after), refsOf(before), "docker service inspect: the secret references are the ones before");
  t.same(
    after.Spec.TaskTemplate.ContainerSpec.Secrets?.map((x) => x.SecretID).sort(),
    before.Spec.TaskTemplate.ContainerSpec.Secrets?.map((x) => x.SecretID).sort(),
    "the very same secret ids",
  );
  t.same((await secretsOf(svc)).map((s) => s.ID), secretsBefore.map((s) => s.ID), "docker secret ls: no new secret of this identity is left");

  const container = await runningContainer(svc);
  const chain = await docker("exec", container, "cat", "/run/secrets/tls.crt");
  const fingerprint = createHash("sha256").update(new X509Certificate(chain).raw).digest("hex");
  t.equal(fingerprint, secretsBefore[0]?.Spec.Labels["io.swarm-mtls.fingerprint"], "the running task serves the generation-1 certificate");
});

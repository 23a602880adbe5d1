/**
 * Docker state edited by hand behind swarm-mtls's back, on the real swarm: a managed secret deleted (while no
 * service referenced it), a managed secret replaced by a hand-made one of the same name that the service mounts
 * instead, and the service's mtls labels edited. Each time `rotate` either repairs (the service ends on a complete
 * managed generation whose certificate verifies inside the task) or refuses with a reason naming what is wrong,
 * and nothing the operator made, nor the certificate the service runs, is lost.
 */
import "reflect-metadata";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { differingPaths, docker, inspectService, refsOf, requireSwarm, RotationWorld, runningContainer, secretsOf, waitRunning, type RotateJson } from "./fixtures/rotation-world.js";

t.before(requireSwarm);

const generationOf = (name: string): number => Number(/\.v(\d+)$/.exec(name)?.[1]);

/** The managed crt/key generations the service's spec references. */
async function attachedGenerations(svc: string): Promise<number[]> {
  const refs = (await inspectService(svc)).Spec.TaskTemplate.ContainerSpec.Secrets ?? [];
  return [...new Set(refs.filter((r) => /^mtls\..*\.(crt|key)\.v\d+$/.test(r.SecretName)).map((r) => generationOf(r.SecretName)))].sort();
}

/** The task's tls.crt verifies against its ca.crt; returns the certificate text (openssl x509 -text). */
async function verifyInTask(svc: string): Promise<string> {
  const container = await runningContainer(svc, 120_000);
  const dir = mkdtempSync(join(tmpdir(), "hand-edit-"));
  try {
    writeFileSync(join(dir, "tls.crt"), await docker("exec", container, "cat", "/run/secrets/tls.crt"));
    writeFileSync(join(dir, "ca.crt"), await docker("exec", container, "cat", "/run/secrets/ca.crt"));
    const ok = execFileSync("openssl", ["verify", "-CAfile", join(dir, "ca.crt"), "-untrusted", join(dir, "tls.crt"), join(dir, "tls.crt")], { encoding: "utf8" });
    if (!/tls\.crt: OK/.test(ok)) throw new Error(ok);
    return execFileSync("openssl", ["x509", "-noout", "-text", "-in", join(dir, "tls.crt")], { encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test("hand edits to managed Docker state are repaired or refused, nothing lost", async (t) => {
  const w = new RotationWorld();
  t.teardown(() => w.cleanup());
  const svc = w.name("hand");
  await w.createService(svc);
  await waitRunning(svc);
  t.equal((await w.cli(["rotate", svc])).code, 0, "generation 1");
  t.equal((await w.cli(["rotate", "--force", svc])).code, 0, "generation 2 (1 kept as the previous one)");
  t.same(await attachedGenerations(svc), [2]);

  await t.test("a managed secret deleted by hand (not referenced): the next runs go on, the broken generation is pruned", async (t) => {
    await docker("secret", "rm", `mtls.${svc}.crt.v1`);
    const specBefore = (await inspectService(svc)).Spec;
    const again = await w.cliJson<RotateJson>(["rotate", svc]);
    t.equal(again.code, 0, `rotate succeeds\n${again.stderr}`);
    t.equal(again.data.outcomes[0]?.result, "up-to-date", "the service's own generation is intact: nothing to do");
    t.same(differingPaths(specBefore, (await inspectService(svc)).Spec), [], "the service is not touched");
    const forced = await w.cliJson<RotateJson>(["rotate", "--force", svc]);
    t.equal(forced.code, 0, `a forced rotate succeeds\n${forced.stderr}`);
    t.equal(forced.data.outcomes[0]?.generationAfter, 3, "generation 3: numbering goes on past the broken one");
    t.same(await attachedGenerations(svc), [3]);
    t.same((await secretsOf(svc)).map((s) => s.Spec.Name), [2, 3].flatMap((g) => [`mtls.${svc}.crt.v${g}`, `mtls.${svc}.key.v${g}`]).sort(), "the half left of generation 1 is pruned; 2 is kept");
    await verifyInTask(svc);
  });

  await t.test("a managed secret replaced by hand (same name, other content and labels) and mounted instead", async (t) => {
    // The operator frees the name of the previous generation's certificate, makes their own secret under it, and
    // mounts it as tls.crt in place of the current one.
    const handMade = `mtls.${svc}.crt.v2`;
    await docker("secret", "rm", handMade);
    await w.createPlainSecret(handMade, "not a certificate\n");
    await docker("secret", "inspect", handMade); // exists
    await docker("service", "update", "--detach", "--secret-rm", `mtls.${svc}.crt.v3`, "--secret-add", `source=${handMade},target=tls.crt,mode=0444`, svc);
    t.same(refsOf(await inspectService(svc)).find((r) => r[1] === "tls.crt")?.[0], handMade, "the service mounts the hand-made secret");

    const repaired = await w.cliJson<RotateJson>(["rotate", svc]);
    t.equal(repaired.code, 0, `rotate repairs it\n${repaired.stderr}`);
    const o = repaired.data.outcomes[0];
    t.not(o?.result, "up-to-date", `the hand edit is detected (${o?.result}: ${o?.reason} ${o?.detail})`);
    const gens = await attachedGenerations(svc);
    t.equal(gens.length, 1, `the service mounts one complete managed generation again (${gens.join(",")})`);
    t.notOk(refsOf(await inspectService(svc)).some((r) => r[0] === handMade), "the hand-made secret is no longer mounted");
    const mine = JSON.parse(await docker("secret", "inspect", handMade)) as { Spec: { Labels: Record<string, string> | null } }[];
    t.equal(mine.length, 1, "the hand-made secret is still there (not ours to delete)");
    t.notOk(mine[0]?.Spec.Labels?.["io.swarm-mtls.managed"], "and still carries no managed label");
    t.match(await verifyInTask(svc), /Subject:/, "the certificate in the task verifies against its ca.crt");
    t.ok((await secretsOf(svc)).every((s) => s.Spec.Name !== handMade), "no managed secret claims the hand-made name");
  });

  await t.test("mtls labels edited by hand: a bad value is refused naming the label, a good one is applied", async (t) => {
    const generationBefore = await attachedGenerations(svc);
    await docker("service", "update", "--detach", "--label-add", `${w.prefix}ttl=forever`, svc);
    const specBefore = (await inspectService(svc)).Spec;
    const secretsBefore = (await secretsOf(svc)).map((s) => s.ID);
    const refused = await w.cliJson<RotateJson>(["rotate", svc]);
    t.equal(refused.code, 1, "exit 1");
    t.equal(refused.data.outcomes[0]?.result, "invalid");
    t.match(refused.data.outcomes[0]?.error, `${w.prefix}ttl`, `the reason names the label: ${refused.data.outcomes[0]?.error}`);
    t.same(differingPaths(specBefore, (await inspectService(svc)).Spec), [], "the service is not touched");
    t.same((await secretsOf(svc)).map((s) => s.ID), secretsBefore, "no secret made or removed");
    t.same(await attachedGenerations(svc), generationBefore, "it keeps running its certificate");

    const extra = `${svc}.test.swarm`; // under the shared test CA's trust domain: mtls.dns names outside it are refused
    await docker("service", "update", "--detach", "--label-rm", `${w.prefix}ttl`, "--label-add", `${w.prefix}dns=${extra}`, svc);
    const applied = await w.cliJson<RotateJson>(["rotate", svc]);
    t.equal(applied.code, 0, `rotate succeeds\n${applied.stderr}`);
    t.equal(applied.data.outcomes[0]?.reason, "settings-changed", "the label change is seen as a settings change");
    t.match(await verifyInTask(svc), new RegExp(`DNS:${extra.replace(/\./g, "\\.")}`), "the new certificate carries the added name");
  });
});

/**
 * The DNS-name policy of the `mtls.dns` label on the real swarm: a service labelled with a public host name is refused
 * (the reason in `rotate --dry-run` and `status`, nothing made, the service untouched, also when rotated for real);
 * names under the trust domain and under a `leaf.dnsSuffixes` domain are issued, checked with openssl in the task.
 * The decision itself is unit-tested in test/unit/rotation/dns-name-policy.test.ts.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { docker, inspectService, requireSwarm, RotationWorld, runningContainer, secretsOf, type RotateJson, type StatusJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
w.env.SWARM_MTLS_LEAF_DNS_SUFFIXES = "*.local";
t.teardown(() => w.cleanup());

/** The SAN line of the task's tls.crt, after checking that it verifies against the task's ca.crt (openssl). */
async function sanInTask(svc: string): Promise<string> {
  const container = await runningContainer(svc, 120_000);
  const dir = mkdtempSync(join(tmpdir(), "dns-policy-"));
  try {
    writeFileSync(join(dir, "tls.crt"), await docker("exec", container, "cat", "/run/secrets/tls.crt"));
    writeFileSync(join(dir, "ca.crt"), await docker("exec", container, "cat", "/run/secrets/ca.crt"));
    const ok = execFileSync("openssl", ["verify", "-CAfile", join(dir, "ca.crt"), "-untrusted", join(dir, "tls.crt"), join(dir, "tls.crt")], { encoding: "utf8" });
    if (!/tls\.crt: OK/.test(ok)) throw new Error(ok);
    return execFileSync("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", join(dir, "tls.crt")], { encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test("mtls.dns=www.google.com is refused with the reason shown; names under the trust domain and a listed suffix are issued", async (t) => {
  const bad = w.name("google");
  const good = w.name("named");
  await w.createService(bad, { args: w.label("dns", "www.google.com") });
  const trustDomain = (await w.cliJson<StatusJson>(["status"])).data.trustDomain;
  const wanted = [`${good}.${trustDomain}`, `${good}.local`];
  await w.createService(good, { args: w.label("dns", wanted.join(",")) });
  const before = await inspectService(bad);
  const reason = new RegExp(`label ${w.prefix.replace(/\./g, "\\.")}dns: 'www\\.google\\.com' is outside the allowed DNS names \\(.*${trustDomain.replace(/\./g, "\\.")}, and \\*\\.local\\).*leaf\\.dnsSuffixes`);

  const dry = await w.cliJson<RotateJson>(["rotate", "--dry-run", bad, good]);
  const dryBy = new Map(dry.data.outcomes.map((o) => [o.service, o]));
  t.match(dryBy.get(bad), { result: "invalid", error: reason }, `rotate --dry-run names the label, the name and what is allowed: ${dryBy.get(bad)?.error}`);
  t.not(dryBy.get(good)?.result, "invalid", "the allowed names pass the dry run");

  const status = await w.cliJson<StatusJson>(["status"]);
  t.match(status.data.services.find((s) => s.service === bad), { state: "error", reason }, "status shows the reason");

  const run = await w.cliJson<RotateJson>(["rotate", bad, good]);
  t.equal(run.code, 1, "rotate exits 1 while a label is refused");
  const by = new Map(run.data.outcomes.map((o) => [o.service, o]));
  t.match(by.get(bad), { result: "invalid", error: reason }, "rotate refuses it for real too");
  t.match(by.get(good), { result: "rotated", generationAfter: 1 }, "the allowed service rotates");
  t.same(await secretsOf(bad), [], "docker secret ls: no certificate for www.google.com was made");
  const after = await inspectService(bad);
  t.same(after.Spec, before.Spec, "docker service inspect: the refused service is untouched");
  t.equal(after.Version.Index, before.Version.Index);

  const san = await sanInTask(good);
  for (const n of wanted) t.match(san, `DNS:${n}`, `openssl: the issued certificate names ${n}`);
  t.notMatch(san, /google/, "and nothing else from a label");
});

import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { docker, inspectService, refsOf, requireSwarm, RotationWorld, runningContainer, secretsOf, type RotateJson } from "./fixtures/rotation-world.js";

await requireSwarm();
const w = new RotationWorld();
t.teardown(() => w.cleanup());

t.test("rotate <svc>: the running task mounts tls.crt, tls.key and ca.crt as the labels ask", async (t) => {
  const svc = w.name("api");
  await w.createService(svc, { args: [...w.label("dns", "extra.test.swarm"), ...w.label("uid", "101"), ...w.label("mode", "0440")] });

  const r = await w.cliJson<RotateJson>(["rotate", svc]);
  t.equal(r.code, 0, `rotate exits 0 (${r.stderr})`);
  t.match(r.data.outcomes, [{ service: svc, identity: svc, result: "rotated", reason: "no-certificate", generationBefore: null, generationAfter: 1 }]);

  const spec = await inspectService(svc);
  const refs = refsOf(spec);
  t.same(
    refs.map(([, target, uid, gid, mode]) => [target, uid, gid, mode]),
    [
      ["ca.crt", "0", "0", "444"],
      ["tls.crt", "0", "0", "444"],
      ["tls.key", "101", "0", "440"],
    ],
    "docker service inspect: three secrets with the targets, owner and mode of the labels",
  );
  t.same(refs.filter(([, target]) => target !== "ca.crt").map(([name]) => name).sort(), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`]);
  t.match(refs.find(([, target]) => target === "ca.crt")?.[0], /^mtls\.bundle\.v\d+$/);

  const secrets = await secretsOf(svc);
  t.same(secrets.map((s) => s.Spec.Name), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`], "docker secret ls: one generation of this identity");
  const crtLabels = secrets[0]?.Spec.Labels ?? {};
  t.match(crtLabels, { "io.swarm-mtls.managed": "true", "io.swarm-mtls.kind": "crt", "io.swarm-mtls.generation": "1", "io.swarm-mtls.identity": svc });

  const container = await runningContainer(svc);
  const dir = mkdtempSync(join(tmpdir(), "rot-mount-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const chain = await docker("exec", container, "cat", "/run/secrets/tls.crt");
  const bundle = await docker("exec", container, "cat", "/run/secrets/ca.crt");
  writeFileSync(join(dir, "tls.crt"), chain);
  writeFileSync(join(dir, "ca.crt"), bundle);
  t.match(await docker("exec", container, "head", "-1", "/run/secrets/tls.key"), new RegExp(`^-----BEGIN ${"PRIVATE"} KEY-----`), "the key file holds a PKCS#8 key");

  const leaf = new X509Certificate(chain);
  const fingerprint = createHash("sha256").update(leaf.raw).digest("hex");
  t.equal(fingerprint, crtLabels["io.swarm-mtls.fingerprint"], "SHA-256 of the mounted certificate = the secret's fingerprint label");
  t.equal(leaf.serialNumber.toLowerCase().replace(/^0+/, ""), (crtLabels["io.swarm-mtls.serial"] ?? "").replace(/^0+/, ""), "serial = the label");

  const verify = execFileSync(
    "openssl",
    ["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", join(dir, "ca.crt"), "-untrusted", join(dir, "tls.crt"), join(dir, "tls.crt")],
    { encoding: "utf8" },
  );
  t.match(verify, /tls\.crt: OK/, "openssl verify -x509_strict -purpose sslserver: OK against the mounted bundle");

  const sans = (leaf.subjectAltName ?? "").split(", ").sort();
  t.same(sans, [`DNS:${svc}`, "DNS:extra.test.swarm", `DNS:tasks.${svc}`, `URI:spiffe://test.swarm/id/${svc}`].sort(), "DNS names and SPIFFE ID");

  const ls = (await docker("exec", container, "ls", "-ln", "/run/secrets/tls.key")).trim().split(/\s+/);
  t.equal(ls[0], "-r--r-----", "ls -ln: key mode 0440");
  t.equal(ls[2], "101", "ls -ln: key owner uid 101");
  t.equal(ls[3], "0", "ls -ln: key group 0");
  const crtLs = (await docker("exec", container, "ls", "-ln", "/run/secrets/tls.crt")).trim().split(/\s+/);
  t.equal(crtLs[0], "-r--r--r--", "the certificate is world-readable");
});

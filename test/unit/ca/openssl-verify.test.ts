import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePem, createAuthority, issueLeafSync, KEY_ALGORITHMS } from "../../../src/ca/index.js";

const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-openssl-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function verify(purpose: string, files: { root: string; intermediate: string; leaf: string }): { status: number | null; out: string } {
  const r = spawnSync("openssl", [
    "verify", "-x509_strict", "-purpose", purpose, "-CAfile", files.root, "-untrusted", files.intermediate, files.leaf,
  ]);
  return { status: r.status, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
}

for (const alg of KEY_ALGORITHMS) {
  t.test(`${alg}: openssl verify -x509_strict accepts leaves for server and client use`, async (t) => {
    const { authority } = await createAuthority({ trustDomain: "example.org", keyAlgorithm: alg });
    const leaf = issueLeafSync(authority, {
      identity: "shop_api",
      dnsNames: ["api", "tasks.api"],
      spiffeId: "spiffe://example.org/swarm/shop/api",
    });
    const files = { root: join(dir, `${alg}-root.pem`), intermediate: join(dir, `${alg}-int.pem`), leaf: join(dir, `${alg}-leaf.pem`) };
    writeFileSync(files.root, bundlePem(authority));
    writeFileSync(files.intermediate, authority.intermediate.certPem);
    writeFileSync(files.leaf, leaf.certPem);
    for (const purpose of ["sslserver", "sslclient"]) {
      const r = verify(purpose, files);
      t.equal(r.status, 0, `-purpose ${purpose}: ${r.out}`);
      t.match(r.out, /: OK$/);
    }
    // The CA certificates themselves pass strict checks too.
    const ca = spawnSync("openssl", ["verify", "-x509_strict", "-CAfile", files.root, files.intermediate]);
    t.equal(ca.status, 0, `intermediate verifies: ${ca.stdout.toString().trim()} ${ca.stderr.toString().trim()}`);
    const text = execFileSync("openssl", ["x509", "-in", files.leaf, "-noout", "-text"]).toString();
    t.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    t.match(text, /X509v3 Key Usage: critical\s+Digital Signature/);
    t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    t.match(text, /DNS:api, DNS:tasks.api, URI:spiffe:\/\/example.org\/swarm\/shop\/api/);
    const rootText = execFileSync("openssl", ["x509", "-in", files.root, "-noout", "-text"]).toString();
    t.match(rootText, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    t.match(rootText, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    const intText = execFileSync("openssl", ["x509", "-in", files.intermediate, "-noout", "-text"]).toString();
    t.match(intText, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  });
}

t.test("a leaf from a foreign CA does not verify against ours", async (t) => {
  const ours = (await createAuthority({ trustDomain: "example.org" })).authority;
  const foreign = (await createAuthority({ trustDomain: "example.org" })).authority;
  const files = { root: join(dir, "ours-root.pem"), intermediate: join(dir, "foreign-int.pem"), leaf: join(dir, "foreign-leaf.pem") };
  writeFileSync(files.root, bundlePem(ours));
  writeFileSync(files.intermediate, foreign.intermediate.certPem);
  writeFileSync(files.leaf, issueLeafSync(foreign, { identity: "intruder" }).certPem);
  const r = verify("sslclient", files);
  t.not(r.status, 0, "rejected");
  t.match(r.out, /unable to get (local )?issuer certificate/);
});

import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuthority, signCsr } from "../../../src/ca/index.js";
import { x509 } from "../../../src/ca/x509.js";

const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-csr-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A CSR made by the openssl CLI, asking for whatever the extra -addext options say. */
function opensslCsr(name: string, genpkey: string[], addext: string[] = []): string {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  execFileSync("openssl", ["genpkey", ...genpkey, "-out", key]);
  execFileSync("openssl", ["req", "-new", "-key", key, "-subj", "/CN=evil.example/O=Someone Else", ...addext.flatMap((e) => ["-addext", e]), "-out", csr]);
  return readFileSync(csr, "utf8");
}

t.test("a CSR made with openssl is signed with our profile and our names only", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  for (const [alg, genpkey] of [
    ["ecdsa-p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]],
    ["ed25519", ["-algorithm", "ED25519"]],
    ["rsa-2048", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]],
  ] as const) {
    const csrPem = opensslCsr(alg, [...genpkey], ["subjectAltName=DNS:evil.example,URI:spiffe://example.org/admin"]);
    const leaf = await signCsr(authority, { csrPem, identity: "shop_api", dnsNames: ["api"], spiffeId: "spiffe://example.org/swarm/shop/api", ttlSeconds: 3600 });
    t.equal(leaf.keyPem, undefined, `${alg}: no key in the result`);
    t.equal(leaf.keyAlgorithm, alg);
    const cert = new x509.X509Certificate(leaf.certPem);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    t.equal(cert.subject, "CN=shop_api", `${alg}: subject from the params, not the CSR`);
    t.same(cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON(), [
      { type: "dns", value: "api" },
      { type: "url", value: "spiffe://example.org/swarm/shop/api" },
    ], `${alg}: SANs from the params only`);
    t.same(Buffer.from(cert.publicKey.rawData), Buffer.from(csr.publicKey.rawData), `${alg}: public key from the CSR`);
    t.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 3600_000 + 60_000, "ttl from the params (+ skew)");
    t.ok(await cert.verify({ publicKey: authority.intermediate.cert.publicKey, signatureOnly: true }));
  }
});

t.test("a CSR asking for CA:true gets a CA:false certificate", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const csrPem = opensslCsr("ca", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], [
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  writeFileSync(join(dir, "ca-request.csr"), csrPem);
  const requested = execFileSync("openssl", ["req", "-in", join(dir, "ca-request.csr"), "-noout", "-text"]).toString();
  t.match(requested, /Basic Constraints: critical\s+CA:TRUE/, "the CSR really asks for CA:true");
  const leaf = await signCsr(authority, { csrPem, identity: "sneaky" });
  const cert = new x509.X509Certificate(leaf.certPem);
  t.equal(cert.getExtension(x509.BasicConstraintsExtension)!.ca, false, "CA:FALSE");
  t.equal(cert.getExtension(x509.KeyUsagesExtension)!.usages, x509.KeyUsageFlags.digitalSignature, "no keyCertSign");
  writeFileSync(join(dir, "sneaky.pem"), leaf.certPem);
  const text = execFileSync("openssl", ["x509", "-in", join(dir, "sneaky.pem"), "-noout", "-text"]).toString();
  t.match(text, /CA:FALSE/);
  t.notMatch(text, /CA:TRUE/);
});

t.test("a CSR with a bad signature, or that is not a CSR, is refused", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const csrPem = opensslCsr("bad", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  der[der.length - 5] = (der[der.length - 5] as number) ^ 0x01; // inside the ECDSA signature
  const badPem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
  await t.rejects(signCsr(authority, { csrPem: badPem, identity: "api" }), { code: "bad-input", message: /signature does not verify|could not be/ });
  await t.rejects(signCsr(authority, { csrPem: "hello", identity: "api" }), { code: "bad-input", message: /not a PEM certificate request/ });
  await t.rejects(
    signCsr(authority, { csrPem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", identity: "api" }),
    { code: "bad-input", message: /could not be parsed/ },
  );
  const weak = opensslCsr("weak", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
  await t.rejects(signCsr(authority, { csrPem: weak, identity: "api" }), { code: "bad-input", message: /CSR's key is rsa-1024; expected one of/ });
  await t.rejects(signCsr(authority, { csrPem: opensslCsr("ok", ["-algorithm", "ED25519"]), identity: "api", ttlSeconds: 30 * 86400 }), {
    code: "bad-input",
    message: "ttl 30d is over the CA maximum of 7d",
  });
  await t.rejects(signCsr(authority, { csrPem: opensslCsr("ok", ["-algorithm", "ED25519"]), identity: "api", ttlSeconds: 1 }), {
    code: "bad-input",
    message: "ttl 1s is shorter than the minimum of 5m",
  }, "CSR signing holds the one minimum too");
});

import t from "tap";
import { createPrivateKey, createPublicKey, X509Certificate as NodeX509Certificate } from "node:crypto";
import {
  createAuthority,
  encodeLeaf,
  generateLeafKeySync,
  issueLeaf,
  issueLeafReference,
  issueLeafSync,
  KEY_ALGORITHMS,
  planLeaf,
  randomSerial,
  type Authority,
  type KeyAlgorithm,
} from "../../../src/ca/index.js";
import { isMtlsError } from "../../../src/errors.js";
import { x509 } from "../../../src/ca/x509.js";
import { children, readNode } from "../../../src/ca/der.js";

const NOW = new Date("2030-03-01T12:00:00Z");
const HOUR = 3600;
const REQUEST = {
  identity: "shop_api",
  dnsNames: ["api", "tasks.api", "API.shop.internal", "api"],
  spiffeId: "spiffe://example.org/swarm/shop/api",
  uris: ["https://api.example.org/"],
  ttlSeconds: 24 * HOUR,
  now: NOW,
};

const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
const tbsOf = (der: Buffer): Buffer => {
  const tbs = children(der, readNode(der, 0))[0]!;
  return der.subarray(tbs.start, tbs.end);
};

const authorities = new Map<KeyAlgorithm, Authority>();
t.before(async () => {
  for (const alg of KEY_ALGORITHMS) {
    authorities.set(alg, (await createAuthority({ trustDomain: "example.org", keyAlgorithm: alg, now: new Date("2030-01-01T00:00:00Z") })).authority);
  }
});

for (const alg of KEY_ALGORITHMS) {
  t.test(`${alg}: an issued leaf carries the swarm-mtls leaf profile`, async (t) => {
    const a = authorities.get(alg)!;
    const leaf = issueLeafSync(a, REQUEST);
    const cert = new x509.X509Certificate(leaf.certPem);
    const issuer = a.intermediate.cert;

    t.equal(cert.subject, "CN=shop_api", "subject is the identity");
    t.equal(cert.issuer, issuer.subject, "issuer is the intermediate");
    t.ok(await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }), "signed by the intermediate");

    const serial = Buffer.from(cert.serialNumber, "hex");
    t.equal(serial.length, 16, "serial is 128 bits");
    t.ok(serial[0]! > 0 && serial[0]! < 0x80, "serial is positive with a non-zero first byte");
    t.equal(leaf.serial, cert.serialNumber.toLowerCase(), "reported serial matches");

    t.same(cert.notBefore, new Date(NOW.getTime() - 60_000), "notBefore is now minus 60 s skew");
    t.same(cert.notAfter, new Date(NOW.getTime() + 24 * HOUR * 1000), "notAfter is now plus ttl");
    t.same([leaf.notBefore, leaf.notAfter], [cert.notBefore, cert.notAfter], "reported validity matches");

    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    t.equal(bc.ca, false, "CA:FALSE");
    t.equal(bc.critical, true, "basicConstraints critical");
    const ku = cert.getExtension(x509.KeyUsagesExtension)!;
    const expectedKu =
      x509.KeyUsageFlags.digitalSignature | (alg.startsWith("rsa") ? x509.KeyUsageFlags.keyEncipherment : 0);
    t.equal(ku.usages, expectedKu, alg.startsWith("rsa") ? "KU digitalSignature+keyEncipherment" : "KU digitalSignature");
    t.equal(ku.critical, true, "keyUsage critical");
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)!;
    t.same(eku.usages, [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], "EKU serverAuth+clientAuth");
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    t.same(san.names.toJSON(), [
      { type: "dns", value: "api" },
      { type: "dns", value: "tasks.api" },
      { type: "dns", value: "api.shop.internal" },
      { type: "url", value: "spiffe://example.org/swarm/shop/api" },
      { type: "url", value: "https://api.example.org/" },
    ], "SAN: DNS names lower-cased and de-duplicated, SPIFFE ID first among URIs");
    t.same(leaf.dnsNames, ["api", "tasks.api", "api.shop.internal"]);
    t.same(leaf.uris, ["spiffe://example.org/swarm/shop/api", "https://api.example.org/"]);

    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)!;
    const issuerSki = issuer.getExtension(x509.SubjectKeyIdentifierExtension)!;
    t.equal(aki.keyId, issuerSki.keyId, "AKI = SKI of the intermediate");
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)!;
    t.equal(ski.keyId, Buffer.from(await cert.publicKey.getKeyIdentifier()).toString("hex"), "SKI = SHA-1 of the public key");

    const key = createPrivateKey(leaf.keyPem!);
    t.ok(
      createPublicKey(key).export({ type: "spki", format: "der" }).equals(Buffer.from(cert.publicKey.rawData)),
      "tls.key belongs to the certificate",
    );
    t.equal(leaf.keyAlgorithm, alg);
    t.equal(leaf.chainPem, leaf.certPem + a.intermediate.certPem, "chain = leaf + intermediate");
    t.equal(leaf.fingerprint, new NodeX509Certificate(leaf.certPem).fingerprint256.replace(/:/g, "").toLowerCase());
    t.equal(leaf.issuerFingerprint, new NodeX509Certificate(a.intermediate.certPem).fingerprint256.replace(/:/g, "").toLowerCase());
  });

  t.test(`${alg}: the fast path encodes exactly what @peculiar/x509 encodes`, async (t) => {
    const a = authorities.get(alg)!;
    const plan = planLeaf(a, REQUEST);
    const key = generateLeafKeySync(alg);
    const serial = randomSerial();
    const fast = encodeLeaf(a, plan, key.spkiDer, serial);
    const reference = derOf(await issueLeafReference(a, { plan, spkiDer: key.spkiDer, serial }));
    t.ok(tbsOf(fast).equals(tbsOf(reference)), "TBSCertificate bytes are identical");
    if (alg === "ecdsa-p256" || alg === "ecdsa-p384") {
      t.ok(new NodeX509Certificate(fast).verify(new NodeX509Certificate(a.intermediate.certPem).publicKey), "ECDSA signature verifies");
    } else {
      t.ok(fast.equals(reference), "whole certificate identical (deterministic signature)");
    }
  });

  t.test(`${alg}: hand-encoded leaf keys equal node's own PKCS#8 and SPKI export`, async (t) => {
    const key = generateLeafKeySync(alg);
    const priv = createPrivateKey(key.keyPem);
    t.equal(priv.export({ type: "pkcs8", format: "pem" }), key.keyPem, "PKCS#8 PEM identical");
    t.ok(createPublicKey(priv).export({ type: "spki", format: "der" }).equals(key.spkiDer), "SPKI identical");
    const asyncLeaf = await issueLeaf(authorities.get(alg)!, { identity: "async", now: NOW });
    t.equal(createPrivateKey(asyncLeaf.keyPem!).asymmetricKeyType, priv.asymmetricKeyType, "async issue makes the same kind of key");
  });
}

t.test("a leaf never outlives its intermediate", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org", intermediateTtlSeconds: 2 * HOUR, now: NOW });
  const leaf = issueLeafSync(authority, { identity: "web", ttlSeconds: 24 * HOUR, now: NOW });
  t.same(leaf.notAfter, authority.intermediate.cert.notAfter, "clamped silently to the intermediate's notAfter");
  t.same(leaf.notAfter, new Date(NOW.getTime() + 2 * HOUR * 1000));
  const expired = () => issueLeafSync(authority, { identity: "web", now: new Date(NOW.getTime() + 3 * HOUR * 1000) });
  t.throws(expired, /intermediate CA expired .* rotate the CA/, "an expired intermediate is reported, not used");
});

t.test("ttl over the CA maximum is refused with the numbers", async (t) => {
  const a = authorities.get("ecdsa-p256")!;
  const err = t.throws(() => issueLeafSync(a, { identity: "web", ttlSeconds: 30 * 86400, now: NOW })) as unknown;
  t.ok(isMtlsError(err, "bad-input"), "bad-input");
  t.equal((err as Error).message, "ttl 30d is over the CA maximum of 7d");
  await t.rejects(issueLeaf(a, { identity: "web", ttlSeconds: 8 * 86400 }), { code: "bad-input", message: "ttl 8d is over the CA maximum of 7d" });
  t.equal(issueLeafSync(a, { identity: "web", ttlSeconds: 7 * 86400, now: NOW }).notAfter.getTime(), NOW.getTime() + 7 * 86400_000, "exactly the maximum is fine");
  t.throws(() => issueLeafSync(a, { identity: "web", ttlSeconds: 0 }), { code: "bad-input" }, "zero ttl refused");
  t.throws(() => issueLeafSync(a, { identity: "web", ttlSeconds: 1 }), { code: "bad-input", message: "ttl 1s is shorter than the minimum of 5m" }, "the one minimum, whatever path the ttl came by");
  t.throws(() => issueLeafSync(a, { identity: "web", ttlSeconds: 299 }), { code: "bad-input", message: "ttl 4m59s is shorter than the minimum of 5m" });
  t.equal(issueLeafSync(a, { identity: "web", ttlSeconds: 300, now: NOW }).notAfter.getTime(), NOW.getTime() + 300_000, "exactly the minimum is fine");
  t.throws(() => issueLeafSync(a, { identity: "Web" }), { code: "bad-input", message: /identity 'Web' must be lower-case/ });
  t.throws(() => issueLeafSync(a, { identity: "web", dnsNames: ["*.web"] }), { code: "bad-input", message: /wildcards/ });
  t.throws(() => issueLeafSync(a, { identity: "web", uris: ["spiffe://Example.org/x"] }), { code: "bad-input" });
});

t.test("a leaf without names has no SAN extension but still verifies", async (t) => {
  const a = authorities.get("ed25519")!;
  const cert = new x509.X509Certificate(issueLeafSync(a, { identity: "bare", now: NOW }).certPem);
  t.equal(cert.getExtension(x509.SubjectAlternativeNameExtension), null);
  t.ok(await cert.verify({ publicKey: a.intermediate.cert.publicKey, signatureOnly: true }));
});

t.test("the leaf key algorithm may differ from the CA's", async (t) => {
  const a = authorities.get("ecdsa-p384")!;
  const leaf = issueLeafSync(a, { identity: "mixed", keyAlgorithm: "rsa-2048", now: NOW });
  const cert = new NodeX509Certificate(leaf.certPem);
  t.equal(cert.publicKey.asymmetricKeyType, "rsa");
  t.ok(cert.verify(new NodeX509Certificate(a.intermediate.certPem).publicKey), "signed with the P-384 intermediate");
});

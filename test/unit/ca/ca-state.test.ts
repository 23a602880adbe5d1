import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { createPublicKey, X509Certificate as NodeX509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bundlePem,
  createAuthority,
  describeAuthority,
  generateKekText,
  issueLeafSync,
  authenticateCaStateDocument,
  openAuthority,
  parseKek,
  sealAuthority,
  type Authority,
} from "../../../src/ca/index.js";

const kek = parseKek(generateKekText());
const otherKek = parseKek(generateKekText());

/** Every representation of a private key that must not appear in the sealed state. */
function keyTraces(a: Authority): string[] {
  const traces: string[] = [];
  for (const pair of [...a.roots, a.intermediate]) {
    if (pair.privateKey === undefined) continue;
    const der = pair.privateKey.export({ type: "pkcs8", format: "der" });
    const jwk = pair.privateKey.export({ format: "jwk" });
    traces.push(der.toString("base64"), der.toString("hex"), der.subarray(-32).toString("base64"));
    for (const v of [jwk.d, jwk.p, jwk.q]) if (v !== undefined) traces.push(v, Buffer.from(v, "base64url").toString("base64").slice(0, 40), Buffer.from(v, "base64url").toString("hex"));
  }
  return traces;
}

t.test("seal → open gives back the same CA, and it keeps issuing", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org", keyAlgorithm: "ecdsa-p384", maxLeafTtlSeconds: 3 * 86400, name: "acme mesh" });
  const sealed = sealAuthority(authority, kek);
  const doc = JSON.parse(sealed);
  t.equal(doc.format, "swarm-mtls/ca-state");
  t.equal(doc.version, 2);
  t.match(doc.mac, /^[A-Za-z0-9+/]{43}=$/, "a 32-byte MAC over the document");
  t.equal(doc.trustDomain, "example.org");
  t.equal(doc.defaultKeyAlgorithm, "ecdsa-p384");
  t.equal(doc.maxLeafTtlSeconds, 3 * 86400);
  t.equal(doc.intermediate.key.alg, "A256GCM");
  t.equal(Buffer.from(doc.intermediate.key.iv, "base64").length, 12, "12-byte IV");
  t.notMatch(sealed, /PRIVATE KEY/, "no PEM private key in the state");
  for (const trace of keyTraces(authority)) t.notOk(sealed.includes(trace), "no raw key bytes in the state");

  const opened = await openAuthority(sealed, kek);
  t.same(describeAuthority(opened), describeAuthority(authority), "same certificates, same online keys");
  t.equal(opened.maxLeafTtlSeconds, 3 * 86400);
  t.equal(opened.name, "acme mesh");
  t.same(opened.createdAt, authority.createdAt);
  const leaf = issueLeafSync(opened, { identity: "api" });
  t.ok(new NodeX509Certificate(leaf.certPem).verify(new NodeX509Certificate(authority.intermediate.certPem).publicKey), "the reopened CA signs");
  t.not(sealAuthority(opened, kek), sealed, "fresh IVs on every seal");
});

t.test("a wrong KEK is reported as such", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const sealed = sealAuthority(authority, kek);
  await t.rejects(openAuthority(sealed, otherKek), {
    name: "MtlsError",
    code: "kek",
    message: "the key-encryption key does not open this CA state (wrong --kek-file?)",
  });
  const noCheck = JSON.parse(sealed);
  delete noCheck.kekCheck;
  await t.rejects(openAuthority(JSON.stringify(noCheck), otherKek), { code: "bad-input", message: /does not verify/ }, "without the check value a wrong KEK fails the MAC");
});

t.test("tampering is detected", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const doc = JSON.parse(sealAuthority(authority, kek));
  const ct = Buffer.from(doc.intermediate.key.ct, "base64");
  ct[5] = (ct[5] as number) ^ 1;
  const tampered = { ...doc, intermediate: { ...doc.intermediate, key: { ...doc.intermediate.key, ct: ct.toString("base64") } } };
  await t.rejects(openAuthority(JSON.stringify(tampered), kek), { code: "bad-input", message: /does not verify/ }, "the MAC fails first");
  // Behind the MAC, each key is still checked (a document re-authenticated with the KEK, as only the KEK holder can).
  await t.rejects(openAuthority(authenticateCaStateDocument(tampered, kek), kek), { code: "bad-input", message: /key of intermediate does not decrypt \(tampered/ });
  const swapped = { ...doc, roots: [{ ...doc.roots[0], key: doc.intermediate.key }] };
  await t.rejects(openAuthority(authenticateCaStateDocument(swapped, kek), kek), { code: "bad-input", message: /roots\[0\] does not decrypt/ }, "keys cannot be swapped between entries");
  const { authority: other } = await createAuthority({ trustDomain: "example.org" });
  const foreignIntermediate = { ...doc, intermediate: JSON.parse(sealAuthority(other, kek)).intermediate };
  await t.rejects(openAuthority(authenticateCaStateDocument(foreignIntermediate, kek), kek), { code: "bad-input", message: /not signed by any of the roots/ });
});

t.test("malformed documents are bad input", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const doc = JSON.parse(sealAuthority(authority, kek));
  const cases: [string, RegExp][] = [
    ["{not json", /not JSON/],
    ["[]", /not a JSON object/],
    [JSON.stringify({ ...doc, format: "x" }), /format is 'x'/],
    [JSON.stringify({ ...doc, version: 3 }), /version 3 is not supported/],
    [authenticateCaStateDocument({ ...doc, roots: [] }, kek), /roots is empty/],
    [authenticateCaStateDocument({ ...doc, intermediate: { certPem: "nope" } }, kek), /intermediate.certPem is not a certificate/],
    [authenticateCaStateDocument({ ...doc, intermediate: { certPem: doc.intermediate.certPem } }, kek), /intermediate has no key/],
  ];
  for (const [text, reason] of cases) await t.rejects(openAuthority(text, kek), { code: "bad-input", message: reason });
  t.throws(() => sealAuthority(authority, new Uint8Array(16)), { code: "kek" });
});

t.test("unknown top-level fields (a future rotation phase) survive open → seal", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const doc = JSON.parse(sealAuthority(authority, kek));
  doc.rotation = { phase: "bundle-published", newRootFingerprint: "ab" };
  await t.rejects(openAuthority(JSON.stringify(doc), kek), { code: "bad-input", message: /does not verify/ }, "an unknown field is authenticated too");
  const reopened = await openAuthority(authenticateCaStateDocument(doc, kek), kek);
  t.same(JSON.parse(sealAuthority(reopened, kek)).rotation, doc.rotation);
});

t.test("offline root: the key leaves once, encrypted, and openssl opens it with the passphrase", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-offline-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const passphrase = "correct horse battery staple";
  const { authority, offlineRootKeyPem } = await createAuthority({ trustDomain: "example.org", offlineRoot: { passphrase } });
  t.equal(authority.roots[0]!.privateKey, undefined, "the authority holds no root key");
  t.same(describeAuthority(authority).map((c) => [c.role, c.keyOnline]), [["root", false], ["intermediate", true]]);
  t.match(offlineRootKeyPem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  const sealed = sealAuthority(authority, kek);
  t.equal(JSON.parse(sealed).roots[0].key, undefined, "the sealed state has no root key");
  const reopened = await openAuthority(sealed, kek);
  t.equal(reopened.roots[0]!.privateKey, undefined);
  t.ok(issueLeafSync(reopened, { identity: "api" }).certPem, "the intermediate still issues");

  writeFileSync(join(dir, "root.key"), offlineRootKeyPem!, { mode: 0o600 });
  writeFileSync(join(dir, "pass"), `${passphrase}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "wrong"), "wrong\n", { mode: 0o600 });
  const pub = execFileSync("openssl", ["pkey", "-in", join(dir, "root.key"), "-passin", `file:${join(dir, "pass")}`, "-pubout"]).toString();
  t.ok(
    createPublicKey(pub).export({ type: "spki", format: "der" }).equals(Buffer.from(authority.roots[0]!.cert.publicKey.rawData)),
    "the decrypted key belongs to the root certificate",
  );
  const wrong = spawnSync("openssl", ["pkey", "-in", join(dir, "root.key"), "-passin", `file:${join(dir, "wrong")}`, "-noout"]);
  t.not(wrong.status, 0, "a wrong passphrase does not open it");
  t.equal(bundlePem(authority), authority.roots[0]!.certPem);
  await t.rejects(createAuthority({ trustDomain: "example.org", offlineRoot: { passphrase: "" } }), { code: "bad-input" });
});

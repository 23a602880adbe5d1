/**
 * The public part of a CA state, read without the key-encryption key (readPublicAuthority): what `status`, `ca show`
 * and `envoy` print on a machine without the KEK. The same certificates, fields and online/offline verdicts as the
 * authenticated open; no private key; and, honestly, no authentication: a changed document is read as it is.
 */
import t from "tap";
import {
  bundlePem,
  createAuthority,
  describeAuthority,
  generateKekText,
  issueLeafSync,
  openAuthority,
  parseKek,
  readPublicAuthority,
  sealAuthority,
} from "../../../src/ca/index.js";

const kek = parseKek(generateKekText());

t.test("the public read shows what the KEK open shows, without any private key", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org", keyAlgorithm: "ecdsa-p384", maxLeafTtlSeconds: 3 * 86400, name: "acme mesh" });
  const sealed = sealAuthority({ ...authority, extraState: { rotation: { id: "r1" } } }, kek);
  const opened = await openAuthority(sealed, kek);
  const pub = readPublicAuthority(sealed);
  t.same(describeAuthority(pub), describeAuthority(opened), "same certificates, roles, fingerprints, key online verdicts");
  t.equal(pub.trustDomain, "example.org");
  t.equal(pub.name, "acme mesh");
  t.equal(pub.defaultKeyAlgorithm, "ecdsa-p384");
  t.equal(pub.maxLeafTtlSeconds, 3 * 86400);
  t.same(pub.extraState, { rotation: { id: "r1" } }, "the rotation record is public");
  t.equal(bundlePem(pub), bundlePem(opened), "same trust bundle");
  t.notOk([...pub.roots, pub.intermediate].some((p) => p.privateKey !== undefined), "no private key is opened");
  t.throws(() => issueLeafSync(pub, { identity: "api", spiffeId: "spiffe://example.org/id/api" }), /not loaded/, "it cannot sign");
});

t.test("an offline root reads as offline", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org", offlineRoot: { passphrase: "a passphrase of 16+ chars" } });
  const pub = readPublicAuthority(sealAuthority(authority, kek));
  t.same(describeAuthority(pub).map((c) => [c.role, c.keyOnline]), [["root", false], ["intermediate", true]]);
});

t.test("not authenticated: a document changed outside swarm-mtls is read as it is (the KEK open refuses it)", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const doc = JSON.parse(sealAuthority(authority, kek));
  doc.maxLeafTtlSeconds = 99 * 86400;
  const changed = JSON.stringify(doc);
  t.equal(readPublicAuthority(changed).maxLeafTtlSeconds, 99 * 86400, "the public read cannot tell");
  await t.rejects(openAuthority(changed, kek), /does not verify/, "the KEK open can");
});

t.test("a malformed document is refused with the same words as the KEK open", async (t) => {
  t.throws(() => readPublicAuthority("{"), /the CA state is malformed: not JSON/);
  t.throws(() => readPublicAuthority(JSON.stringify({ format: "other" })), /format is 'other'/);
  t.throws(() => readPublicAuthority(JSON.stringify({ format: "swarm-mtls/ca-state", version: 9 })), /version 9 is not supported/);
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const { authority: other } = await createAuthority({ trustDomain: "example.org" });
  const doc = JSON.parse(sealAuthority(authority, kek));
  doc.intermediate.certPem = other.intermediate.certPem;
  t.throws(() => readPublicAuthority(JSON.stringify(doc)), /the intermediate is not signed by any of the roots/);
});

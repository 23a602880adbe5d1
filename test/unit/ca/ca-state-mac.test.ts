/**
 * The whole CA state is authenticated: a state with a foreign root added, a 10-year maximum TTL, a new trust domain,
 * a chain certificate slipped in or a rotation record edited does not open; the unauthenticated format of earlier
 * versions opens only to be migrated; the sealing key, the MAC key and the check value are separate subkeys.
 */
import "reflect-metadata";
import { createDecipheriv } from "node:crypto";
import t from "tap";
import { createAuthority, describeAuthority, generateKekText, openAuthority, parseKek, sealAuthority } from "../../../src/ca/index.js";
import { sealAuthorityV1 } from "../../helpers/legacy-ca-state.js";

const kek = parseKek(generateKekText());
const TAMPERED = { name: "MtlsError", code: "bad-input", message: /^the CA state does not verify: it was changed outside swarm-mtls/ };

t.test("every field is covered: a changed state does not open", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const { authority: foreign } = await createAuthority({ trustDomain: "evil.example" });
  const sealed = sealAuthority(authority, kek);
  const edits: [string, (d: Record<string, any>) => void][] = [
    ["a foreign root added", (d) => d.roots.push({ certPem: foreign.roots[0]!.certPem })],
    ["a 10-year maximum leaf TTL", (d) => (d.maxLeafTtlSeconds = 10 * 365 * 86400)],
    ["a new trust domain", (d) => (d.trustDomain = "evil.example")],
    ["a chain certificate added", (d) => (d.chain = [foreign.roots[0]!.certPem])],
    ["the name changed", (d) => (d.name = "other")],
    ["the default key algorithm changed", (d) => (d.defaultKeyAlgorithm = "rsa-2048")],
    ["createdAt changed", (d) => (d.createdAt = new Date(0).toISOString())],
    ["a rotation record added", (d) => (d.retired = [{ role: "root", certPem: foreign.roots[0]!.certPem }])],
    ["the MAC removed", (d) => delete d.mac],
    ["the MAC of another state", (d) => (d.mac = JSON.parse(sealAuthority(foreign, kek)).mac)],
  ];
  for (const [what, edit] of edits) {
    const doc = JSON.parse(sealed);
    edit(doc);
    await t.rejects(openAuthority(JSON.stringify(doc), kek), TAMPERED, what);
  }
  const reordered = JSON.parse(sealed);
  const shuffled = Object.fromEntries(Object.entries(reordered).reverse());
  t.same(describeAuthority(await openAuthority(JSON.stringify(shuffled), kek)), describeAuthority(authority), "key order and whitespace do not matter");
});

t.test("the keys are sealed under a subkey, not the KEK itself, and the check value is not the MAC key's", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const doc = JSON.parse(sealAuthority(authority, kek));
  const k = doc.intermediate.key;
  const decipher = createDecipheriv("aes-256-gcm", Buffer.from(kek), Buffer.from(k.iv, "base64"));
  decipher.setAuthTag(Buffer.from(k.tag, "base64"));
  decipher.update(Buffer.from(k.ct, "base64"));
  t.throws(() => decipher.final(), "the KEK itself does not open a sealed key");
  const v1 = JSON.parse(sealAuthorityV1(authority, kek));
  t.not(doc.kekCheck, v1.kekCheck, "the check value comes from its own subkey");
  t.not(doc.kekCheck, doc.mac);
});

t.test("a state of the earlier unauthenticated format opens only to be migrated", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org", maxLeafTtlSeconds: 86400 });
  const legacy = sealAuthorityV1(authority, kek);
  await t.rejects(openAuthority(legacy, kek), { code: "bad-input", message: /unauthenticated format of earlier swarm-mtls versions \(version 1\)/ });
  const migrated = await openAuthority(legacy, kek, { migrateLegacy: true });
  t.same(describeAuthority(migrated), describeAuthority(authority), "same certificates and keys");
  const resealed = sealAuthority(migrated, kek);
  t.equal(JSON.parse(resealed).version, 2);
  t.same(describeAuthority(await openAuthority(resealed, kek)), describeAuthority(authority), "the re-sealed state opens without migrating");
  await t.rejects(openAuthority(legacy, parseKek(generateKekText()), { migrateLegacy: true }), { code: "kek" }, "a wrong KEK is still told apart");
});

import t from "tap";
import { spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certFingerprint,
  createAuthority,
  createIntermediateCa,
  createRootCa,
  crossSignRoot,
  generateKekText,
  issueLeafSync,
  openAuthority,
  parseKek,
  sealAuthority,
  type Authority,
} from "../../../src/ca/index.js";
import {
  authorityForStep,
  authorityShape,
  caRotationProgress,
  caRotationStepsToRun,
  intermediateRotationDue,
  lastingIssuers,
  nextCaRotationStep,
  stepAfter,
} from "../../../src/rotation/ca-rotation-phase.js";
import {
  advanceCaRotationRecord,
  newCaRotationRecord,
  openCaRotation,
  readCaRotationRecord,
  withCaRotationRecord,
  type CaRotation,
  type CaRotationRecord,
} from "../../../src/rotation/ca-rotation-record.js";
import { caRotationStatus } from "../../../src/rotation/ca-rotation.js";

const kek = parseKek(generateKekText());
const otherKek = parseKek(generateKekText());
const DAY = 86400;
const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-ca-rotation-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(content: string): string {
  const path = join(dir, `f${n++}.pem`);
  writeFileSync(path, content);
  return path;
}

/** `openssl verify -x509_strict -CAfile bundle -untrusted chain-without-leaf leaf`: what a TLS peer checks. */
function opensslVerify(bundle: string, chainPem: string): { ok: boolean; out: string } {
  const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
  const [leaf, ...rest] = certs;
  const args = ["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", file(bundle)];
  if (rest.length > 0) args.push("-untrusted", file(rest.join("")));
  args.push(file(leaf as string));
  const r = spawnSync("openssl", args);
  return { ok: r.status === 0, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
}

async function rootRotation(): Promise<{ a: Authority; r: CaRotation }> {
  const { authority: a } = await createAuthority({ trustDomain: "example.org" });
  const oldRoot = a.roots[0]!;
  const newRoot = await createRootCa({ name: a.name, ttlSeconds: 3650 * DAY, keepSubjectOf: oldRoot });
  const cross = await crossSignRoot({ root: newRoot, signer: oldRoot });
  const newIntermediate = await createIntermediateCa({ name: a.name, ttlSeconds: 365 * DAY, signer: newRoot });
  const record = newCaRotationRecord({ kind: "root", oldIntermediate: a.intermediate, oldRoot, newIntermediate, newRoot, cross, kek, now: new Date() });
  return { a: withCaRotationRecord(a, record), r: { record, newIntermediate, newRoot, cross } };
}

t.test("the next step follows the recorded phase; --step runs one, else the rest in a row", async (t) => {
  const rec = (phase: CaRotationRecord["phase"]) => ({ phase }) as CaRotationRecord;
  t.equal(nextCaRotationStep(null), "prepare", "no rotation yet: prepare");
  t.equal(nextCaRotationStep(rec("prepared")), "trust");
  t.equal(nextCaRotationStep(rec("trusted")), "issue");
  t.equal(nextCaRotationStep(rec("issued")), "retire");
  t.equal(nextCaRotationStep(rec("complete")), "prepare", "after a complete rotation a new one starts");
  t.same(caRotationStepsToRun(null, false), ["prepare", "trust", "issue", "retire"]);
  t.same(caRotationStepsToRun(rec("trusted"), false), ["issue", "retire"], "a resumed run continues where it stopped");
  t.same(caRotationStepsToRun(rec("trusted"), true), ["issue"]);
  t.equal(stepAfter("issue"), "retire");
  t.equal(stepAfter("retire"), "complete", "complete after the last");
});

t.test("serve rotates an intermediate with less than rotateBefore of its life left", async (t) => {
  const notBefore = new Date("2025-01-01T00:00:00Z");
  const notAfter = new Date("2025-01-31T00:00:00Z"); // 30 days
  const at = (day: number) => new Date(notBefore.getTime() + day * DAY * 1000);
  t.equal(intermediateRotationDue({ notBefore, notAfter, now: at(19), rotateBefore: 0.3333 }), false, "11 of 30 days left: not yet");
  t.equal(intermediateRotationDue({ notBefore, notAfter, now: at(21), rotateBefore: 0.3333 }), true, "9 of 30 days left: rotate");
  t.equal(intermediateRotationDue({ notBefore, notAfter, now: at(31), rotateBefore: 0.3333 }), true, "expired: rotate");
});

t.test("progress counts services on the new intermediate and the current bundle, and names who a step waits for", async (t) => {
  const services = [
    { service: "a", issuer: "new", bundleCurrent: true },
    { service: "b", issuer: "old", bundleCurrent: true },
    { service: "c", issuer: "old", bundleCurrent: false },
    { service: "d", issuer: null, bundleCurrent: false },
  ];
  t.same(caRotationProgress(services, "new", "trust"), { total: 4, onCurrentBundle: 2, onNewIntermediate: 1, pending: ["c", "d"] });
  t.same(caRotationProgress(services, "new", "issue").pending, ["b", "c", "d"]);
  t.same(caRotationProgress(services, "new", "retire").pending, ["b", "c", "d"], "retire waits for new leaves and the new bundle");
  t.same(caRotationProgress([], "new", "issue"), { total: 0, onCurrentBundle: 0, onNewIntermediate: 0, pending: [] });
  const withSds = [...services, { service: "e", issuer: "old", bundleCurrent: true, issuerLasting: true }];
  t.same(caRotationProgress(withSds, "new", "issue").pending, ["b", "c", "d"], "an SDS bootstrap of a lasting issuer is not waited for");
  t.same(caRotationProgress(withSds, "new", "retire").pending, ["b", "c", "d"]);
});

t.test("lasting issuers: the replaced intermediate while its root stays trusted and it is unexpired", async (t) => {
  const sha = (pem: string) => createHash("sha256").update(new X509Certificate(pem).raw).digest("hex");
  const now = new Date();
  const { authority: a } = await createAuthority({ trustDomain: "example.org" });
  const old = sha(a.intermediate.certPem);
  t.same([...lastingIssuers(a, now)], [], "no rotation: none");
  const newIntermediate = await createIntermediateCa({ name: a.name, ttlSeconds: 30 * DAY, signer: a.roots[0]! });
  const rec = newCaRotationRecord({ kind: "intermediate", oldIntermediate: a.intermediate, newIntermediate, kek, now });
  const r: CaRotation = { record: rec, newIntermediate };
  t.same([...lastingIssuers(withCaRotationRecord(a, rec), now)], [], "prepared: the old intermediate still issues");
  const issued = withCaRotationRecord(authorityForStep(a, r, "issue"), advanceCaRotationRecord(rec, "issued", now));
  t.same([...lastingIssuers(issued, now)], [old], "intermediate rotation, issued: the old intermediate is lasting (same root)");
  const done = withCaRotationRecord(authorityForStep(issued, r, "retire"), advanceCaRotationRecord(advanceCaRotationRecord(rec, "issued", now), "complete", now), [{ role: "intermediate", certPem: a.intermediate.certPem, fingerprint: old, retiredAt: now.toISOString(), rotationId: rec.id }]);
  t.same([...lastingIssuers(done, now)], [old], "complete: still lasting until it expires");
  t.same([...lastingIssuers(done, new Date(now.getTime() + 400 * DAY * 1000))], [], "expired: not lasting");

  const root = await rootRotation();
  const rootIssued = withCaRotationRecord(authorityForStep(authorityForStep(root.a, root.r, "trust"), root.r, "issue"), advanceCaRotationRecord(advanceCaRotationRecord(root.r.record, "trusted", now), "issued", now));
  t.same([...lastingIssuers(rootIssued, now)], [], "root rotation: the old intermediate's root is leaving, so its leaves must change");
});

t.test("root rotation: what each step publishes", async (t) => {
  const { a, r } = await rootRotation();
  const fp = certFingerprint;
  const oldRoot = fp(a.roots[0]!);
  const newRoot = fp(r.newRoot!);
  const trust = authorityForStep(a, r, "trust");
  t.same(trust.roots.map(fp), [newRoot, oldRoot], "trust: both roots, new first");
  t.equal(fp(trust.intermediate), fp(a.intermediate), "trust: the old intermediate still issues");
  t.equal(authorityShape(authorityForStep(trust, r, "trust")), authorityShape(trust), "applying trust twice changes nothing");
  const issue = authorityForStep(trust, r, "issue");
  t.equal(fp(issue.intermediate), fp(r.newIntermediate), "issue: the new intermediate issues");
  t.same(issue.chain?.map(fp), [fp(r.cross!)], "issue: leaf chains carry the cross certificate");
  t.same(issue.roots.map(fp), [newRoot, oldRoot]);
  const retire = authorityForStep(issue, r, "retire");
  t.same(retire.roots.map(fp), [newRoot], "retire: only the new root");
  t.equal(retire.chain, undefined, "retire: no cross certificate any more");
});

t.test("intermediate rotation: the bundle never changes; issuing switches to the new intermediate", async (t) => {
  const { authority: a } = await createAuthority({ trustDomain: "example.org" });
  const newIntermediate = await createIntermediateCa({ name: a.name, ttlSeconds: 30 * DAY, signer: a.roots[0]! });
  const record = newCaRotationRecord({ kind: "intermediate", oldIntermediate: a.intermediate, newIntermediate, kek, now: new Date() });
  const r: CaRotation = { record, newIntermediate };
  t.equal(authorityShape(authorityForStep(a, r, "trust")), authorityShape(a), "trust publishes nothing new");
  const issue = authorityForStep(a, r, "issue");
  t.equal(certFingerprint(issue.intermediate), certFingerprint(newIntermediate));
  t.equal(issue.chain, undefined, "no chain extras for an intermediate rotation");
  t.same(authorityForStep(issue, r, "retire").roots.map(certFingerprint), a.roots.map(certFingerprint));

  const oldLeaf = issueLeafSync(a, { identity: "api", dnsNames: ["api"] });
  const newLeaf = issueLeafSync(issue, { identity: "api", dnsNames: ["api"] });
  const bundle = a.roots[0]!.certPem;
  t.ok(opensslVerify(bundle, oldLeaf.chainPem).ok, "a leaf of the old intermediate verifies against the root");
  const v = opensslVerify(bundle, newLeaf.chainPem);
  t.ok(v.ok, `a leaf of the new intermediate verifies against the same root: ${v.out}`);
  t.equal(newLeaf.issuerFingerprint, certFingerprint(newIntermediate), "the leaf records the new issuer");
});

t.test("an offline root cannot sign a new intermediate: clear bad-input error", async (t) => {
  const { authority: a } = await createAuthority({ trustDomain: "example.org", offlineRoot: { passphrase: "a passphrase of 16+ chars" } });
  await t.rejects(createIntermediateCa({ ttlSeconds: DAY, signer: a.roots[0]! }), { code: "bad-input", message: /root key is offline/ });
});

t.test("root rotation: openssl verify of new and old leaves against old-only, both and new-only bundles", async (t) => {
  const { a, r } = await rootRotation();
  const oldOnly = a.roots[0]!.certPem;
  const newOnly = r.newRoot!.certPem;
  const both = newOnly + oldOnly;
  const oldLeaf = issueLeafSync(a, { identity: "api", dnsNames: ["api"] });
  const issuing = authorityForStep(authorityForStep(a, r, "trust"), r, "issue");
  const newLeaf = issueLeafSync(issuing, { identity: "api", dnsNames: ["api"] });
  t.equal((newLeaf.chainPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 3, "new chain: leaf, new intermediate, cross certificate");
  for (const [name, bundle] of [["old-only", oldOnly], ["both", both], ["new-only", newOnly]] as const) {
    const v = opensslVerify(bundle, newLeaf.chainPem);
    t.ok(v.ok, `NEW leaf [leaf, newInt, cross] against ${name}: ${v.out}`);
  }
  for (const [name, bundle] of [["old-only", oldOnly], ["both", both]] as const) {
    const v = opensslVerify(bundle, oldLeaf.chainPem);
    t.ok(v.ok, `OLD leaf against ${name}: ${v.out}`);
  }
  t.notOk(opensslVerify(newOnly, oldLeaf.chainPem).ok, "an OLD leaf does not verify against the new root alone (why retire waits for every service)");
  const retired = authorityForStep(issuing, r, "retire");
  const afterRetire = issueLeafSync(retired, { identity: "api", dnsNames: ["api"] });
  t.equal((afterRetire.chainPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, "after retire: leaf and intermediate only");
  t.ok(opensslVerify(newOnly, afterRetire.chainPem).ok, "a leaf issued after retire verifies against the new root");
});

t.test("the CA state with a rotation in progress: sealed, reopened, and refused with a wrong KEK", async (t) => {
  const { a, r } = await rootRotation();
  const inProgress = authorityForStep(authorityForStep(a, r, "trust"), r, "issue");
  const record = advanceCaRotationRecord(advanceCaRotationRecord(r.record, "trusted", new Date()), "issued", new Date());
  const doc = sealAuthority(withCaRotationRecord(inProgress, record), kek);
  t.notMatch(doc, /PRIVATE KEY/, "no PEM private key in the state");
  const keyDer = r.newRoot!.privateKey!.export({ type: "pkcs8", format: "der" }).toString("base64");
  t.notOk(doc.includes(keyDer.slice(0, 40)), "the new root key appears only sealed");

  const opened = await openAuthority(doc, kek);
  t.same(opened.chain?.map(certFingerprint), [certFingerprint(r.cross!)], "the chain extras survive");
  const back = readCaRotationRecord(opened)!;
  t.equal(back.phase, "issued");
  t.same(back.history.map((h) => h.phase), ["prepared", "trusted", "issued"]);
  const retirePublished = await openAuthority(sealAuthority(withCaRotationRecord(authorityForStep(opened, r, "retire"), back), kek), kek);
  t.notOk(retirePublished.roots.some((x) => certFingerprint(x) === back.oldRoot), "once retire's authority is written, the old root is gone from the roots");
  t.equal(readCaRotationRecord(retirePublished)?.oldRootCertPem, a.roots[0]!.certPem, "but the record still holds its certificate, so a resumed retire can list it as retired");
  t.throws(() => readCaRotationRecord(withCaRotationRecord(opened, { ...back, oldRootCertPem: 7 as unknown as string })), { code: "bad-input", message: /oldRootCertPem/ }, "a malformed oldRootCertPem is refused");
  const reopened = openCaRotation(back, kek);
  t.ok(reopened.newIntermediate.privateKey, "new intermediate key opens");
  t.ok(reopened.newRoot?.privateKey?.equals(r.newRoot!.privateKey!), "new root key is the same key");
  t.same(issueLeafSync(opened, { identity: "x" }).issuerFingerprint, certFingerprint(r.newIntermediate));
  t.same(sealAuthority(opened, kek).length > 0, true);

  await t.rejects(openAuthority(doc, otherKek), { code: "kek" }, "wrong KEK: the state does not open");
  t.throws(() => openCaRotation(back, otherKek), { code: "bad-input", message: /does not decrypt/ }, "wrong KEK: the rotation keys do not open");

  const status = caRotationStatus(opened, back, [{ service: "a", issuer: certFingerprint(r.newIntermediate), bundleCurrent: true }]);
  t.match(status, {
    kind: "root",
    phase: "issued",
    next: "retire",
    fingerprints: { newIntermediate: certFingerprint(r.newIntermediate), newRoot: certFingerprint(r.newRoot!), oldRoot: certFingerprint(a.roots[0]!) },
    progress: { total: 1, onNewIntermediate: 1 },
  });

  const complete = advanceCaRotationRecord(back, "complete", new Date());
  t.equal(complete.newIntermediate.key, undefined, "a complete record keeps no sealed key");
  t.equal(complete.newRoot?.key, undefined);
});

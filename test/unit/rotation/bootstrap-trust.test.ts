/**
 * Which services' Swarm secrets each phase of a CA rotation updates: file-mounted services follow every bundle the CA
 * publishes; an SDS-mode service's bootstrap `ca.crt` changes only when it would stop verifying the CA's SDS
 * listener. Driven through the real rotation steps (authorityForStep) and the real planner, with real certificates;
 * the listener's certificate of every phase is checked with `openssl verify` against the bootstrap `ca.crt` the
 * SDS-mode service mounts before and after that phase's update.
 */
import t from "tap";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePem, certFingerprint, createAuthority, createIntermediateCa, createRootCa, crossSignRoot, generateKekText, issueLeafSync, parseKek, type Authority } from "../../../src/ca/index.js";
import { bundleRoots, issuingRoots, knownRoots, trustBundleMustChange } from "../../../src/rotation/bootstrap-trust.js";
import { authorityForStep, lastingIssuers } from "../../../src/rotation/ca-rotation-phase.js";
import { advanceCaRotationRecord, newCaRotationRecord, withCaRotationRecord, type CaRotation, type CaRotationPhase } from "../../../src/rotation/ca-rotation-record.js";
import { planService, type PlanVerdict } from "../../../src/rotation/plan.js";

const kek = parseKek(generateKekText());
const DAY = 86400;
const HOUR = 3600_000;
const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-bootstrap-trust-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

let n = 0;
function opensslVerify(bundle: string, chainPem: string): { ok: boolean; out: string } {
  const file = (s: string): string => {
    const p = join(dir, `f${n++}.pem`);
    writeFileSync(p, s);
    return p;
  };
  const [leaf, ...rest] = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
  const args = ["verify", "-purpose", "sslserver", "-CAfile", file(bundle)];
  if (rest.length > 0) args.push("-untrusted", file(rest.join("")));
  args.push(file(leaf as string));
  const r = spawnSync("openssl", args);
  return { ok: r.status === 0, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
}

async function rotation(kind: "root" | "intermediate", from?: Authority): Promise<{ a: Authority; r: CaRotation }> {
  const a = from ?? (await createAuthority({ trustDomain: "example.org" })).authority;
  const oldRoot = a.roots[0]!;
  if (kind === "intermediate") {
    const newIntermediate = await createIntermediateCa({ name: a.name, ttlSeconds: 365 * DAY, signer: oldRoot });
    const record = newCaRotationRecord({ kind, oldIntermediate: a.intermediate, newIntermediate, kek, now: new Date() });
    return { a: withCaRotationRecord(a, record), r: { record, newIntermediate } };
  }
  const newRoot = await createRootCa({ name: a.name, ttlSeconds: 3650 * DAY, keepSubjectOf: oldRoot });
  const cross = await crossSignRoot({ root: newRoot, signer: oldRoot });
  const newIntermediate = await createIntermediateCa({ name: a.name, ttlSeconds: 365 * DAY, signer: newRoot });
  const record = newCaRotationRecord({ kind, oldIntermediate: a.intermediate, oldRoot, newIntermediate, newRoot, cross, kek, now: new Date() });
  return { a: withCaRotationRecord(a, record), r: { record, newIntermediate, newRoot, cross } };
}

/** A service as its Swarm secrets say: the issuer of its mounted leaf, the bundle it mounts, when it was issued. */
interface Svc {
  name: string;
  sds: boolean;
  issuer: string;
  bundle: string;
  issuedAt: Date;
  updates: number;
}

/** What the reconcile with authority `a` decides for one service (the fleet's wiring, on plain values). */
function decide(s: Svc, a: Authority, now: Date, force = false): PlanVerdict {
  const current = bundlePem(a);
  const mounted = { sds: s.sds, current: s.bundle === current, roots: s.sds ? bundleRoots(sha(s.bundle), knownRoots(a)) : null };
  const bundleOk = !trustBundleMustChange(mounted, issuingRoots(a));
  const gen = { generation: 1, serial: `${s.name}-${s.issuedAt.getTime()}`, fingerprint: "f", notBefore: s.issuedAt, notAfter: new Date(s.issuedAt.getTime() + 7 * DAY * 1000), issuer: s.issuer, profile: "p", complete: true };
  return planService(
    { profile: "p", attached: 1, bundleCurrent: bundleOk, refsExact: true, envoyCurrent: true, generations: [gen], sds: s.sds },
    { now, force, issuer: certFingerprint(a.intermediate), renewBefore: 1 / 3, jitter: 0, lastingIssuers: lastingIssuers(a, now) },
  );
}

/** Applies a verdict the way a rollout does: one service update mounting the current bundle (and a new leaf). */
function apply(s: Svc, v: PlanVerdict, a: Authority, now: Date): string {
  if (v.action === "none") return "-";
  if (v.action === "issue") {
    s.issuer = certFingerprint(a.intermediate);
    s.issuedAt = now;
  }
  s.bundle = bundlePem(a);
  s.updates++;
  return v.reason;
}

const STEPS = ["trust", "issue", "retire"] as const;
const PHASE: Record<(typeof STEPS)[number], CaRotationPhase> = { trust: "trusted", issue: "issued", retire: "complete" };

/** Runs the three steps like rotate-ca does (publish, reconcile every service, record the phase); returns what each step did per service. */
function runRotation(start: Authority, r: CaRotation, services: Svc[], now: Date, onStep?: (step: string, a: Authority, before: Map<string, string>) => void): Record<string, string[]> {
  const did: Record<string, string[]> = Object.fromEntries(services.map((s) => [s.name, []]));
  let a = start;
  let record = r.record;
  for (const step of STEPS) {
    const published = authorityForStep(a, r, step);
    const before = new Map(services.map((s) => [s.name, s.bundle]));
    for (const s of services) did[s.name]!.push(apply(s, decide(s, published, now), published, now));
    onStep?.(step, published, before);
    record = advanceCaRotationRecord(record, PHASE[step], now);
    a = withCaRotationRecord(published, record);
  }
  return did;
}

t.test("root rotation: file-mounted services are updated in all three phases, SDS-mode services once (issue)", async (t) => {
  const { a, r } = await rotation("root");
  const now = new Date();
  const issuedAt = new Date(now.getTime() - HOUR);
  const oldBundle = bundlePem(a);
  const services: Svc[] = [
    { name: "file", sds: false, issuer: certFingerprint(a.intermediate), bundle: oldBundle, issuedAt, updates: 0 },
    { name: "sds", sds: true, issuer: certFingerprint(a.intermediate), bundle: oldBundle, issuedAt, updates: 0 },
  ];
  const sds = services[1]!;
  const listenerChecks: string[] = [];
  const did = runRotation(a, r, services, now, (step, published, before) => {
    // The SDS listener's certificate as serve issues it from the published authority (leaf, intermediate, chain):
    // it must verify against the sidecar's bootstrap ca.crt both before and after this step's update.
    const listener = issueLeafSync(published, { identity: "swarm-mtls-sds", dnsNames: ["localhost"], uris: ["spiffe://example.org/swarm-mtls/sds"] });
    for (const [when, bundle] of [["before", before.get("sds") as string], ["after", sds.bundle]] as const) {
      const v = opensslVerify(bundle, listener.chainPem);
      t.ok(v.ok, `${step}: the SDS listener's chain verifies against the SDS-mode bootstrap ca.crt ${when} the update: ${v.out}`);
      listenerChecks.push(`${step}/${when}`);
    }
  });
  t.same(did, { file: ["bundle-changed", "issuer-changed", "bundle-changed"], sds: ["-", "issuer-changed", "-"] }, "what each step updates");
  t.same(services.map((s) => s.updates), [3, 1], "file-mounted: three service updates; SDS mode: one");
  t.equal(listenerChecks.length, 6);

  const newRoot = certFingerprint(r.newRoot!);
  const oldRoot = certFingerprint(a.roots[0]!);
  t.same(bundleRoots(sha(sds.bundle), knownRoots(authorityForStep(authorityForStep(a, r, "trust"), r, "issue"))), [newRoot, oldRoot], "after the rotation the SDS-mode bootstrap ca.crt holds both roots");
  t.equal(services[0]!.bundle, r.newRoot!.certPem, "the file-mounted service mounts the new root only");
});

t.test("after a root rotation: the two-root bootstrap ca.crt stays until the bootstrap is due, or until rotate --all --force", async (t) => {
  const { a, r } = await rotation("root");
  const now = new Date();
  const sds: Svc = { name: "sds", sds: true, issuer: certFingerprint(a.intermediate), bundle: bundlePem(a), issuedAt: new Date(now.getTime() - HOUR), updates: 0 };
  runRotation(a, r, [sds], now);
  const done = withCaRotationRecord(authorityForStep(authorityForStep(authorityForStep(a, r, "trust"), r, "issue"), r, "retire"), advanceCaRotationRecord(r.record, "complete", now));
  t.equal(decide(sds, done, new Date(now.getTime() + DAY * 1000)).action, "none", "a day later: nothing to do (the two-root ca.crt verifies the listener)");
  const forced = decide(sds, done, new Date(now.getTime() + DAY * 1000), true);
  t.equal(forced.reason, "forced", "rotate --all --force re-issues it");
  const due = decide(sds, done, new Date(now.getTime() + 5 * DAY * 1000));
  t.equal(due.reason, "due", "at ⅔ of the bootstrap's life it is renewed");
  apply(sds, due, done, now);
  t.equal(sds.bundle, bundlePem(done), "the renewal mounts the new-root-only bundle");
});

t.test("intermediate rotation: no SDS-mode update at all; file-mounted services re-issued once", async (t) => {
  const { a, r } = await rotation("intermediate");
  const now = new Date();
  const services: Svc[] = [
    { name: "file", sds: false, issuer: certFingerprint(a.intermediate), bundle: bundlePem(a), issuedAt: new Date(now.getTime() - HOUR), updates: 0 },
    { name: "sds", sds: true, issuer: certFingerprint(a.intermediate), bundle: bundlePem(a), issuedAt: new Date(now.getTime() - HOUR), updates: 0 },
  ];
  t.same(runRotation(a, r, services, now), { file: ["-", "issuer-changed", "-"], sds: ["-", "-", "-"] });
});

t.test("a root rotation after an intermediate rotation: an SDS bootstrap of the older intermediate is still updated once", async (t) => {
  const now = new Date();
  const first = await rotation("intermediate");
  const sds: Svc = { name: "sds", sds: true, issuer: certFingerprint(first.a.intermediate), bundle: bundlePem(first.a), issuedAt: new Date(now.getTime() - HOUR), updates: 0 };
  t.same(runRotation(first.a, first.r, [sds], now).sds, ["-", "-", "-"], "the intermediate rotation leaves the bootstrap of the first intermediate (lasting)");
  const retired = [{ role: "intermediate" as const, certPem: first.a.intermediate.certPem, fingerprint: certFingerprint(first.a.intermediate), retiredAt: now.toISOString(), rotationId: first.r.record.id }];
  const afterFirst = withCaRotationRecord(authorityForStep(authorityForStep(first.a, first.r, "issue"), first.r, "retire"), advanceCaRotationRecord(first.r.record, "complete", now), retired);
  const { a, r } = await rotation("root", afterFirst);
  t.equal(decide(sds, a, now).action, "none", "root rotation prepared: the bootstrap of the first intermediate is not replaced by one of the same leaving root");
  t.same(runRotation(a, r, [sds], now).sds, ["-", "issuer-changed", "-"], "then one update, in issue");
  t.equal(sds.updates, 1);
});

t.test("the roots a certificate of the CA verifies to, phase by phase of a root rotation", async (t) => {
  const { a, r } = await rotation("root");
  const oldRoot = certFingerprint(a.roots[0]!);
  const newRoot = certFingerprint(r.newRoot!);
  const trust = authorityForStep(a, r, "trust");
  const issue = authorityForStep(trust, r, "issue");
  t.same(issuingRoots(a), [oldRoot], "before: the old root");
  t.same(issuingRoots(trust), [oldRoot], "trust: still the old root (the old intermediate issues)");
  t.same(issuingRoots(issue).sort(), [newRoot, oldRoot].sort(), "issue: the new root, and the old one through the cross certificate");
  t.same(issuingRoots(authorityForStep(issue, r, "retire")), [newRoot], "retire: the new root only");
});

t.test("a mounted bundle: recognised by its fingerprint, or nothing assumed", async (t) => {
  const { a, r } = await rotation("root");
  const trust = authorityForStep(a, r, "trust");
  const known = knownRoots(withCaRotationRecord(trust, r.record));
  const oldRoot = certFingerprint(a.roots[0]!);
  const newRoot = certFingerprint(r.newRoot!);
  t.same(bundleRoots(sha(bundlePem(a)), known), [oldRoot], "the old-root bundle");
  t.same(bundleRoots(sha(bundlePem(trust)), known), [newRoot, oldRoot], "the two-root bundle, in its order");
  t.equal(bundleRoots(sha("something else"), known), null, "a bundle of unknown roots");
  t.equal(bundleRoots(undefined, known), null, "no fingerprint label");

  const issuing = [newRoot];
  t.equal(trustBundleMustChange({ sds: false, current: true, roots: null }, issuing), false, "the current bundle never changes");
  t.equal(trustBundleMustChange({ sds: false, current: false, roots: [newRoot, oldRoot] }, issuing), true, "file-mounted: any other bundle changes");
  t.equal(trustBundleMustChange({ sds: true, current: false, roots: [newRoot, oldRoot] }, issuing), false, "SDS mode: a bundle holding an issuing root stays");
  t.equal(trustBundleMustChange({ sds: true, current: false, roots: [oldRoot] }, issuing), true, "SDS mode: a bundle without one changes");
  t.equal(trustBundleMustChange({ sds: true, current: false, roots: null }, issuing), true, "SDS mode: an unknown bundle changes");
});

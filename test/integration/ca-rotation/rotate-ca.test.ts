/**
 * `rotate-ca` on the real swarm, with a CA of its own (own CA-state config name, KEK file and KEK secret), so the
 * shared test CA other files use is never rotated. After every phase, two services A and B complete mTLS handshakes
 * with each other using exactly the files mounted in their tasks (read with `docker exec`), both ways; root rotations
 * are also checked with `openssl verify` against old-only, both and new-only bundles. Crashes are injected with the
 * test-only hook SWARM_MTLS_TEST_CRASH_AFTER (the CLI kills itself with SIGKILL there) at every step: after each
 * phase is written, between creating a service's new secrets and updating its spec (the orphan-secret case), and
 * between two services in trust, issue and retire. After each crash the handshakes still work both ways, the next run
 * resumes, nothing is issued twice, and once a run finishes no orphan identity or trust-bundle secret is left.
 */
import t, { type Test } from "tap";
import { spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, type CliRun } from "../../helpers/cli.js";
import { docker, FAST, requireSwarmCli, TEST_IMAGE } from "../../helpers/swarm-test.js";
import { secretsOf } from "../rotation/fixtures/rotation-world.js";
import { bothWays as bothWaysOf, crtGenerations, mounted, noOrphans as noOrphansOf, ownCa, removeOwnCa } from "./fixtures/own-ca.js";

await requireSwarmCli({ needsCa: false });
// Longer than the runner's default per-file timeout: about 20 minutes of real rollouts on a loaded 2-CPU machine.
t.setTimeout(45 * 60_000);

const ca = ownCa("ca");
const { env, dir, caStateName, kekSecret } = ca;
const A = `rca-${ca.tag}-a`;
const B = `rca-${ca.tag}-b`;

t.teardown(() => removeOwnCa(ca, [A, B]));

const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliRun> => runCli(args, { env: { ...env, ...extra }, timeoutMs: 300_000 });

/** Runs rotate-ca; a lease left by a killed run expires within its 6 s TTL, so exit 3 is retried for a while. */
async function rotateCa(args: string[], extra: Record<string, string> = {}): Promise<CliRun> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await cli(["rotate-ca", ...args], extra);
    if (r.code !== 3 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/** A→B and B→A with the mounted files. */
const bothWays = (t: Test, when: string) => bothWaysOf(t, A, B, when);
/** No orphan identity secret of A or B, no orphan trust bundle of this CA. */
const noOrphans = (t: Test, when: string) => noOrphansOf(t, ca, [A, B], when);

let fileNo = 0;
function opensslVerify(bundle: string, chainPem: string): boolean {
  const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  const write = (s: string) => {
    const p = join(dir, `v${fileNo++}.pem`);
    writeFileSync(p, s.endsWith("\n") ? s : `${s}\n`);
    return p;
  };
  const args = ["verify", "-purpose", "sslclient", "-CAfile", write(bundle)];
  if (certs.length > 1) args.push("-untrusted", write(certs.slice(1).join("")));
  args.push(write(certs[0] as string));
  return spawnSync("openssl", args).status === 0;
}

/** The newest CA-state document of this test's CA, read from its Docker config (the store as the oracle). */
async function caState(): Promise<{ rotation?: { phase: string; newRoot?: { certPem: string }; crossCertPem?: string }; roots: { certPem: string }[]; chain?: string[]; retired?: { role: string; fingerprint: string }[] } & Record<string, unknown>> {
  const names = (await docker("config", "ls", "--format", "{{.Name}}")).split("\n").filter((n) => n.startsWith(`${caStateName}.v`));
  const newest = names.sort((x, y) => Number(y.split(".v").pop()) - Number(x.split(".v").pop()))[0] as string;
  const [cfg] = JSON.parse(await docker("config", "inspect", newest)) as { Spec: { Data: string } }[];
  return JSON.parse(Buffer.from(cfg?.Spec.Data ?? "", "base64").toString("utf8"));
}

/**
 * This CA's CA-state versions as `docker config ls` shows them, each with the fingerprints of the CA certificates it
 * keeps a (sealed) private key for: every `{ certPem, key }` pair anywhere in the document.
 */
async function caStatesWithKeys(): Promise<{ name: string; keysFor: string[] }[]> {
  const names = (await docker("config", "ls", "--format", "{{.Name}}")).split("\n").filter((n) => n.startsWith(`${caStateName}.v`));
  const out: { name: string; keysFor: string[] }[] = [];
  for (const name of names) {
    const [cfg] = JSON.parse(await docker("config", "inspect", name)) as { Spec: { Data: string } }[];
    const keysFor: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(walk);
      if (v === null || typeof v !== "object") return;
      const o = v as Record<string, unknown>;
      if (typeof o.certPem === "string" && o.key) keysFor.push(createHash("sha256").update(new X509Certificate(o.certPem).raw).digest("hex"));
      Object.values(o).forEach(walk);
    };
    walk(JSON.parse(Buffer.from(cfg?.Spec.Data ?? "", "base64").toString("utf8")));
    out.push({ name, keysFor });
  }
  return out;
}

/**
 * After a CA rotation completed: `docker config ls` shows one CA-state version (the current one) and no version keeps
 * a key of a retired CA certificate; what a service rollback needs (the secrets its previous spec mounts) is still there.
 */
async function retiredKeysGone(t: Test, retired: string[], when: string): Promise<void> {
  const states = await caStatesWithKeys();
  t.equal(states.length, 1, `${when}: docker config ls shows one CA-state version of this CA, the current one (${states.map((s) => s.name).join(", ")})`);
  const holding = states.filter((s) => s.keysFor.some((f) => retired.includes(f))).map((s) => s.name);
  t.same(holding, [], `${when}: no CA-state version keeps a key of a retired CA certificate`);
  t.ok(states[0]?.keysFor.length, `${when}: the current CA state keeps the current CA key`);
  for (const svc of [A, B]) {
    const [s] = JSON.parse(await docker("service", "inspect", svc)) as { PreviousSpec?: { TaskTemplate: { ContainerSpec: { Secrets?: { SecretName: string }[] } } } }[];
    const names = (s?.PreviousSpec?.TaskTemplate.ContainerSpec.Secrets ?? []).map((r) => r.SecretName);
    t.ok(names.length > 0, `${when}: ${svc} has a previous spec to roll back to`);
    const missing: string[] = [];
    for (const n of names) await docker("secret", "inspect", n).catch(() => missing.push(n));
    t.same(missing, [], `${when}: every secret ${svc}'s previous spec mounts still exists (a rollback works)`);
  }
}

const count = (pem: string): number => (pem.match(/BEGIN CERTIFICATE/g) ?? []).length;

const CRASH = "SWARM_MTLS_TEST_CRASH_AFTER";

/** Runs rotate-ca with the process killed at `where`; asserts it did not exit 0 (it was killed). */
async function crashAt(t: Test, args: string[], where: string): Promise<void> {
  const r = await rotateCa(args, { [CRASH]: where });
  t.not(r.code, 0, `rotate-ca ${args.join(" ")} killed at '${where}' (exit ${r.code})`);
}

/** The phase the CA state records now. */
const phase = async (): Promise<string | undefined> => (await caState()).rotation?.phase;

t.test("setup: own CA, two opted-in services on generation 1", async (t) => {
  const init = await cli(["init", "--trust-domain", "rotate-ca.test", "--kek-file", env.SWARM_MTLS_KEK_FILE as string]);
  t.equal(init.code, 0, `init exits 0${init.code === 0 ? "" : `: ${init.stderr}`}`);
  t.match(init.stdout, new RegExp(`key-encryption key secret ${kekSecret}: created`));
  for (const s of [A, B]) await docker("service", "create", "-d", "--name", s, "--label", `${ca.tag}.enable=true`, ...FAST, TEST_IMAGE, "sleep", "3600");
  const r = await cli(["--json", "rotate", "--all"]);
  t.equal(r.code, 0, `first rotation: ${r.stderr}`);
  t.match(JSON.parse(r.stdout).outcomes, [{ result: "rotated", generationAfter: 1 }, { result: "rotated", generationAfter: 1 }]);
  await bothWays(t, "before any CA rotation");
  const dry = await cli(["rotate-ca", "--dry-run"]);
  t.equal(dry.code, 0);
  t.match(dry.stdout, /plan \(dry run, nothing changed; new rotation\): prepare → trust → issue → retire/);
  t.notOk((await caState()).rotation, "a dry run records nothing");
});

t.test("intermediate rotation with a crash after each phase and inside 'issue', each resumed by the next run", async (t) => {
  const before = { a: await mounted(A), b: await mounted(B) };
  const oldIntermediateLeaf = before.a.crt;

  // prepare: killed right after 'prepared' is written (the run would have gone on to trust).
  await crashAt(t, [], "prepared");
  t.equal(await phase(), "prepared", "the phase reached survived the crash");
  await bothWays(t, "after a crash after prepare");
  await noOrphans(t, "after a crash after prepare");

  const trust = await rotateCa(["--step"]);
  t.equal(trust.code, 0, `the next run resumes with trust${trust.code === 0 ? "" : `: ${trust.stderr}`}`);
  t.match(trust.stdout, /finished trust \(phase trusted\)[\s\S]*next: issue/, "says it finished trust and that issue comes next");
  await bothWays(t, "after trust");
  t.same(await crtGenerations(A), [1], "no leaf issued yet");
  t.same(await crtGenerations(B), [1], "no leaf issued yet");

  // issue: killed between creating the first service's new secrets and updating its spec (the orphan-secret case).
  await crashAt(t, ["--step"], "issue:secrets-created");
  const leftBehind = [...(await secretsOf(A)), ...(await secretsOf(B))].filter((x) => x.Spec.Labels["io.swarm-mtls.generation"] === "2").map((x) => x.Spec.Name);
  t.equal(leftBehind.length, 2, `the killed run left one service's new certificate and key, not mounted (${leftBehind.join(", ")})`);
  const orphanOf = leftBehind[0]?.includes(`.${A}.`) ? A : B;
  let m = await bothWays(t, "after a crash between secret creation and spec update");
  t.equal(m.a.crt, before.a.crt, "A still mounts its old leaf");
  t.equal(m.b.crt, before.b.crt, "B still mounts its old leaf");

  // issue resumed, killed right after the first service converged, before the other was touched.
  await crashAt(t, ["--step"], "issue:converged");
  const mix = await bothWays(t, "mid-issue (one service on a new leaf, the other on an old leaf)");
  const changed = [mix.a.crt !== before.a.crt, mix.b.crt !== before.b.crt];
  t.same(changed.filter(Boolean).length, 1, "exactly one of A and B mounts a new leaf");
  const done = changed[0] ? A : B;
  const waiting = changed[0] ? B : A;
  t.equal(done, orphanOf, "the resumed run finished the service whose secrets the crash left behind");
  t.same(await crtGenerations(orphanOf), [1, 2], "it mounted the generation left behind instead of issuing a third");
  t.equal(mix.b.ca, mix.a.ca, "same bundle");
  t.equal(opensslVerify(mix.a.ca, oldIntermediateLeaf), true, "a leaf issued before the rotation still verifies against the published bundle");
  const status = await cli(["--json", "status"]);
  t.match(JSON.parse(status.stdout).caRotation, { kind: "intermediate", phase: "trusted", next: "issue", progress: { total: 2, onNewIntermediate: 1, pending: [waiting] } }, "status: 1/2 services on the new intermediate, the other pending");

  // issue resumed again (all phases asked), killed right after 'issued' is written.
  await crashAt(t, [], "issued");
  t.equal(await phase(), "issued", "the phase reached survived the crash");
  t.same(await crtGenerations(A), [1, 2], "A: exactly one new generation (nothing issued twice)");
  t.same(await crtGenerations(B), [1, 2], "B: exactly one new generation");
  m = await bothWays(t, "after issue");
  t.not(m.a.crt, before.a.crt, "A mounts a new leaf");
  t.not(m.b.crt, before.b.crt, "B mounts a new leaf");
  await noOrphans(t, "after a crash after issue");

  // retire: an intermediate rotation rolls nothing here (the roots stay); the next run finishes it.
  const retire = await rotateCa([]);
  t.equal(retire.code, 0, `retire exits 0${retire.code === 0 ? "" : `: ${retire.stderr}`}`);
  t.match(retire.stdout, /finished retire \(phase complete\)[\s\S]*next: complete/);
  t.notMatch(retire.stdout, /finished issue/, "the run resumed at retire: nothing issued again");
  await bothWays(t, "after retire");
  await noOrphans(t, "after the intermediate rotation");
  const s = await caState();
  t.equal(s.rotation?.phase, "complete");
  t.match(s.retired, [{ role: "intermediate" }], "the old intermediate is retired (certificate kept)");
  t.notOk(JSON.stringify(s.retired).includes('"key"'), "no key kept for the retired intermediate");
  await retiredKeysGone(t, (s.retired ?? []).map((r) => r.fingerprint), "after the intermediate rotation");
});

t.test("root rotation with a crash inside and after every phase: openssl against old-only, both and new-only bundles at each phase", async (t) => {
  const show = JSON.parse((await cli(["--json", "ca", "show"])).stdout) as { certificates: { role: string; pem: string }[] };
  const oldRoot = show.certificates.find((c) => c.role === "root")?.pem as string;
  const oldLeaf = (await mounted(A)).crt;

  const prepared = await rotateCa(["--root", "--step"]);
  t.equal(prepared.code, 0, `prepare exits 0${prepared.code === 0 ? "" : `: ${prepared.stderr}`}`);
  t.match(prepared.stdout, /finished prepare \(phase prepared\)[\s\S]*next: trust/);
  const newRoot = (await caState()).rotation?.newRoot?.certPem as string;
  t.ok(newRoot, "the new root is in the CA state");
  const bundles = { "old-only": oldRoot, both: newRoot + oldRoot, "new-only": newRoot };
  const matrix = (leaf: string) => Object.fromEntries(Object.entries(bundles).map(([k, b]) => [k, opensslVerify(b, leaf)]));
  let m = await bothWays(t, "after prepare");
  t.same(matrix(m.a.crt), { "old-only": true, both: true, "new-only": false }, "prepared: old leaves verify with the old root");

  // trust: killed between the two services (the first runs with old + new roots, the other still with the old root).
  await crashAt(t, [], "trust:converged");
  t.equal(await phase(), "prepared", "trust is not recorded before every service has the new bundle");
  m = await bothWays(t, "mid-trust (one service trusts both roots, the other the old root only)");
  t.same([count(m.a.ca), count(m.b.ca)].sort(), [1, 2], "one bundle with two roots, one with the old root");
  t.same(matrix(m.a.crt), { "old-only": true, both: true, "new-only": false }, "mid-trust: old leaves verify against old-only and both");

  // trust resumed; run all phases but die right after 'trusted' is written.
  await crashAt(t, [], "trusted");
  t.equal(await phase(), "trusted", "the phase reached survived the crash");
  m = await bothWays(t, "after trust");
  t.equal(count(m.a.ca), 2, "the mounted bundle holds two roots");
  t.equal(count(m.b.ca), 2);
  t.same(matrix(m.a.crt), { "old-only": true, both: true, "new-only": false }, "trusted: old leaves still verify against the published bundles");
  t.ok(opensslVerify(m.a.ca, oldLeaf), "a leaf issued before the rotation verifies against the trust bundle");
  await noOrphans(t, "after a crash after trust");

  // issue, killed after the first service converged: A on a new leaf (new root), B on an old one (old root).
  await crashAt(t, ["--step"], "issue:converged");
  m = await bothWays(t, "mid-issue of a root rotation (one leaf under the new root, one under the old)");
  const newLeaf = m.a.crt === oldLeaf ? m.b.crt : m.a.crt;
  t.equal(count(newLeaf), 3, "a new leaf chain: leaf, new intermediate, cross certificate");
  t.same(matrix(newLeaf), { "old-only": true, both: true, "new-only": true }, "a new leaf verifies against old-only, both and new-only");

  // issue resumed (all phases asked), killed right after 'issued' is written: the matrix at 'issued'.
  await crashAt(t, [], "issued");
  t.equal(await phase(), "issued", "the phase reached survived the crash");
  m = await bothWays(t, "after issue");
  t.equal(count(m.a.ca), 2, "issued: A still trusts both roots");
  t.equal(count(m.b.ca), 2, "issued: B still trusts both roots");
  for (const [who, leaf] of [["A", m.a.crt], ["B", m.b.crt]] as const) {
    t.equal(count(leaf), 3, `issued: ${who}'s leaf chain is leaf, new intermediate, cross certificate`);
    t.same(matrix(leaf), { "old-only": true, both: true, "new-only": true }, `issued: ${who}'s leaf verifies against old-only, both and new-only`);
  }
  t.ok(opensslVerify(m.a.ca, oldLeaf), "issued: a leaf issued before the rotation still verifies against the mounted bundle");
  t.same(await crtGenerations(A), [2, 3], "A: one new generation (nothing issued twice), v1 pruned");
  t.same(await crtGenerations(B), [2, 3], "B: one new generation");
  await noOrphans(t, "after a crash after issue");

  // retire, killed between the two services (one trusts the new root only, the other still both).
  await crashAt(t, [], "retire:converged");
  t.equal(await phase(), "issued", "retire is not recorded before every service has the new bundle");
  m = await bothWays(t, "mid-retire (one service trusts the new root only, the other both)");
  t.same([count(m.a.ca), count(m.b.ca)].sort(), [1, 2], "one bundle with the new root only, one with both roots");

  // retire resumed, killed after the last service converged (before the phase is written or old bundles pruned).
  await crashAt(t, [], "retire:converged");
  t.equal(await phase(), "issued", "the phase is still 'issued'");
  m = await bothWays(t, "after the last service of retire, before the phase was written");
  t.equal(m.a.ca.trim(), newRoot.trim(), "A's bundle: the new root only");
  t.equal(m.b.ca.trim(), newRoot.trim(), "B's bundle: the new root only");

  // The next run has no service left to roll: it records 'complete' and removes the bundles the crash left.
  const resumed = await rotateCa([]);
  t.equal(resumed.code, 0, `the next run completes the rotation${resumed.code === 0 ? "" : `: ${resumed.stderr}`}`);
  t.match(resumed.stdout, /finished retire \(phase complete\)[\s\S]*next: complete/);
  t.notMatch(resumed.stdout, /finished issue/, "the run resumed at retire");
  m = await bothWays(t, "after retire");
  t.same(matrix(m.a.crt), { "old-only": true, both: true, "new-only": true });
  t.same(matrix(m.b.crt), { "old-only": true, both: true, "new-only": true });
  t.notOk(opensslVerify(newRoot, oldLeaf), "a leaf of the old CA no longer verifies (and none is mounted)");

  t.same(await crtGenerations(A), [2, 3], "A: one new generation for the root rotation (nothing issued twice)");
  t.same(await crtGenerations(B), [2, 3], "B: one new generation");
  const secrets = [...(await secretsOf(A)), ...(await secretsOf(B))].map((s) => s.Spec.Name).sort();
  t.same(secrets, [`mtls.${A}.crt.v2`, `mtls.${A}.crt.v3`, `mtls.${A}.key.v2`, `mtls.${A}.key.v3`, `mtls.${B}.crt.v2`, `mtls.${B}.crt.v3`, `mtls.${B}.key.v2`, `mtls.${B}.key.v3`], "no orphan certificate or key secret");
  await noOrphans(t, "after the root rotation");
  const s = await caState();
  t.equal(s.roots.length, 1);
  t.equal(s.chain, undefined, "no cross certificate in chains after retire");
  t.match(s.retired, [{ role: "intermediate" }, { role: "intermediate" }, { role: "root" }], "old root and intermediate retired");
  await retiredKeysGone(t, (s.retired ?? []).map((r) => r.fingerprint), "after the root rotation");
  const status = JSON.parse((await cli(["--json", "status"])).stdout);
  t.match(status.caRotation, { kind: "root", phase: "complete", progress: { total: 2, onNewIntermediate: 2, onCurrentBundle: 2 } });
});

/**
 * `rotate-ca` on the real swarm, with a CA of its own (own CA-state config name, KEK file and KEK secret), so the
 * shared test CA other files use is never rotated. After every phase, two services A and B complete mTLS handshakes
 * with each other using exactly the files mounted in their tasks (read with `docker exec`), both ways; root rotations
 * are also checked with `openssl verify` against old-only, both and new-only bundles. Crashes are injected with the
 * test-only hook SWARM_MTLS_TEST_CRASH_AFTER (the CLI kills itself with SIGKILL there) and a second run completes.
 */
import t, { type Test } from "tap";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { runCli, type CliRun } from "../../helpers/cli.js";
import { docker, FAST, runningContainer, secretsOf, TEST_IMAGE } from "../rotation/fixtures/rotation-world.js";

const state = (await docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")).trim();
if (state !== "active true") throw new Error(`no swarm manager here (state '${state}'): run scripts/swarm-sandbox.sh up`);

const tag = `ca${randomBytes(3).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-rotate-ca-"));
const caStateName = `mtls.${tag}.ca-state`;
const kekSecret = `swarm-mtls-kek-${tag}`;
const env: Record<string, string> = {
  SWARM_MTLS_STORE: "swarm",
  SWARM_MTLS_KEK_FILE: join(dir, "kek"),
  SWARM_MTLS_LABEL_PREFIX: `${tag}.`,
  SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.${tag}`,
  SWARM_MTLS_ROTATION_LEASE_TTL: "6s",
  SWARM_MTLS_CA_STATE_NAME: caStateName,
  SWARM_MTLS_KEK_SECRET_NAME: kekSecret,
  SWARM_MTLS_ROTATION_CONCURRENCY: "1",
};
const A = `rca-${tag}-a`;
const B = `rca-${tag}-b`;
/** Every trust bundle this CA published (by fingerprint), for cleanup. */
const bundleFingerprints = new Set<string>();

t.teardown(async () => {
  await docker("service", "rm", A, B).catch(() => undefined);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ids = new Set<string>();
    for (const s of [A, B]) for (const id of (await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${s}`)).split("\n").filter(Boolean)) ids.add(id);
    for (const fp of bundleFingerprints) for (const id of (await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.fingerprint=${fp}`)).split("\n").filter(Boolean)) ids.add(id);
    let left = 0;
    for (const id of ids) await docker("secret", "rm", id).catch((e: Error) => (/not found|no such/i.test(e.message) ? undefined : left++));
    if (left === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await docker("secret", "rm", kekSecret).catch(() => undefined);
  for (const name of (await docker("config", "ls", "--format", "{{.Name}}")).split("\n")) {
    if (name.startsWith(`${caStateName}.v`) || name === env.SWARM_MTLS_ROTATION_LEASE_NAME) await docker("config", "rm", name).catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
});

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

interface Mounted {
  crt: string;
  key: string;
  ca: string;
}

/** The files the service's running task has under /run/secrets, read inside the container. */
async function mounted(service: string): Promise<Mounted> {
  const cid = await runningContainer(service);
  const cat = (f: string) => docker("exec", cid, "cat", `/run/secrets/${f}`);
  const m = { crt: await cat("tls.crt"), key: await cat("tls.key"), ca: await cat("ca.crt") };
  bundleFingerprints.add(createHash("sha256").update(m.ca).digest("hex"));
  return m;
}

/** One mTLS handshake on 127.0.0.1: `server` serves with its files, `client` connects with its own. Both must accept. */
function handshake(server: Mounted, serverName: string, client: Mounted): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    let serverSide = "no connection";
    const srv = tls.createServer({ cert: server.crt, key: server.key, ca: server.ca, requestCert: true, rejectUnauthorized: true }, (s) => {
      serverSide = s.authorized ? "client accepted" : `client rejected: ${String(s.authorizationError)}`;
      s.end("hello");
    });
    srv.on("tlsClientError", (e) => (serverSide = `server: ${e.message}`));
    const done = (ok: boolean, detail: string) => {
      srv.close();
      resolve({ ok, detail });
    };
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      const sock = tls.connect({ host: "127.0.0.1", port, servername: serverName, cert: client.crt, key: client.key, ca: client.ca }, () => {
        sock.once("data", () => {
          sock.end();
          done(sock.authorized && serverSide === "client accepted", `client authorized=${sock.authorized}; ${serverSide}`);
        });
      });
      sock.on("error", (e) => done(false, `client: ${e.message}; ${serverSide}`));
      sock.setTimeout(10_000, () => done(false, `timeout; ${serverSide}`));
    });
  });
}

/** A→B and B→A with the mounted files. */
async function bothWays(t: Test, when: string): Promise<{ a: Mounted; b: Mounted }> {
  const a = await mounted(A);
  const b = await mounted(B);
  const ab = await handshake(b, B, a);
  t.ok(ab.ok, `${when}: A → B mTLS handshake with the mounted files (${ab.detail})`);
  const ba = await handshake(a, A, b);
  t.ok(ba.ok, `${when}: B → A mTLS handshake with the mounted files (${ba.detail})`);
  return { a, b };
}

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

/** Generations of an identity's certificate secrets (the oracle for "nothing issued twice"). */
async function crtGenerations(identity: string): Promise<number[]> {
  return (await secretsOf(identity)).filter((s) => s.Spec.Labels["io.swarm-mtls.kind"] === "crt").map((s) => Number(s.Spec.Labels["io.swarm-mtls.generation"])).sort((x, y) => x - y);
}

const count = (pem: string): number => (pem.match(/BEGIN CERTIFICATE/g) ?? []).length;

t.test("setup: own CA, two opted-in services on generation 1", async (t) => {
  const init = await cli(["init", "--trust-domain", "rotate-ca.test", "--kek-file", env.SWARM_MTLS_KEK_FILE as string]);
  t.equal(init.code, 0, `init exits 0${init.code === 0 ? "" : `: ${init.stderr}`}`);
  t.match(init.stdout, new RegExp(`key-encryption key secret ${kekSecret}: created`));
  for (const s of [A, B]) await docker("service", "create", "-d", "--name", s, "--label", `${tag}.enable=true`, ...FAST, TEST_IMAGE, "sleep", "3600");
  const r = await cli(["--json", "rotate", "--all"]);
  t.equal(r.code, 0, `first rotation: ${r.stderr}`);
  t.match(JSON.parse(r.stdout).outcomes, [{ result: "rotated", generationAfter: 1 }, { result: "rotated", generationAfter: 1 }]);
  await bothWays(t, "before any CA rotation");
  const dry = await cli(["rotate-ca", "--dry-run"]);
  t.equal(dry.code, 0);
  t.match(dry.stdout, /plan \(dry run, nothing changed; new rotation\): prepare → trust → issue → retire/);
  t.notOk((await caState()).rotation, "a dry run records nothing");
});

t.test("intermediate rotation, one phase at a time, with a crash between two services in 'issue'", async (t) => {
  const before = { a: await mounted(A), b: await mounted(B) };
  const oldIntermediateLeaf = before.a.crt;
  const steps: [string, string][] = [["prepare", "trust"], ["trust", "issue"]];
  for (const [step, next] of steps) {
    const r = await rotateCa(["--step"]);
    t.equal(r.code, 0, `rotate-ca --step (${step}) exits 0${r.code === 0 ? "" : `: ${r.stderr}`}`);
    t.match(r.stdout, new RegExp(`finished ${step} \\(phase \\w+\\)[\\s\\S]*next: ${next}`), `says it finished ${step} and that ${next} comes next`);
    await bothWays(t, `after ${step}`);
    t.same(await crtGenerations(A), [1], "no leaf issued yet");
  }

  // issue: the process dies right after A converged on its new leaf, before B was touched.
  const crashed = await rotateCa(["--step"], { SWARM_MTLS_TEST_CRASH_AFTER: "issue:converged" });
  t.not(crashed.code, 0, "the crashed run did not exit 0");
  const mix = await bothWays(t, "mid-issue (one service on a new leaf, the other on an old leaf)");
  const changed = [mix.a.crt !== before.a.crt, mix.b.crt !== before.b.crt];
  t.same(changed.filter(Boolean).length, 1, "exactly one of A and B mounts a new leaf");
  const waiting = changed[0] ? B : A;
  t.equal(mix.b.ca, mix.a.ca, "same bundle");
  t.equal(opensslVerify(mix.a.ca, oldIntermediateLeaf), true, "a leaf issued before the rotation still verifies against the published bundle");
  const status = await cli(["--json", "status"]);
  t.match(JSON.parse(status.stdout).caRotation, { kind: "intermediate", phase: "trusted", next: "issue", progress: { total: 2, onNewIntermediate: 1, pending: [waiting] } }, "status: 1/2 services on the new intermediate, the other pending");

  const resumed = await rotateCa(["--step"]);
  t.equal(resumed.code, 0, `resumed issue exits 0${resumed.code === 0 ? "" : `: ${resumed.stderr}`}`);
  t.match(resumed.stdout, /finished issue \(phase issued\)[\s\S]*next: retire/);
  t.same(await crtGenerations(A), [1, 2], "A: exactly one new generation (nothing issued twice)");
  t.same(await crtGenerations(B), [1, 2], "B: exactly one new generation");
  await bothWays(t, "after issue");

  const retire = await rotateCa(["--step"]);
  t.equal(retire.code, 0, `retire exits 0${retire.code === 0 ? "" : `: ${retire.stderr}`}`);
  t.match(retire.stdout, /finished retire \(phase complete\)[\s\S]*next: complete/);
  await bothWays(t, "after retire");
  const s = await caState();
  t.equal(s.rotation?.phase, "complete");
  t.match(s.retired, [{ role: "intermediate" }], "the old intermediate is retired (certificate kept)");
  t.notOk(JSON.stringify(s.retired).includes('"key"'), "no key kept for the retired intermediate");
});

t.test("root rotation with a crash between phases: openssl against old-only, both and new-only bundles at each phase", async (t) => {
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

  // Run all phases; die right after 'trusted' is written.
  const crashed = await rotateCa([], { SWARM_MTLS_TEST_CRASH_AFTER: "trusted" });
  t.not(crashed.code, 0, "the run was killed after 'trusted'");
  t.equal((await caState()).rotation?.phase, "trusted", "the phase reached survived the crash");
  m = await bothWays(t, "after trust");
  t.equal(count(m.a.ca), 2, "the mounted bundle holds two roots");
  t.equal(count(m.b.ca), 2);
  t.same(matrix(m.a.crt), { "old-only": true, both: true, "new-only": false }, "trusted: old leaves still verify against the published bundles");
  t.ok(opensslVerify(m.a.ca, oldLeaf), "a leaf issued before the rotation verifies against the trust bundle");

  // issue, killed after the first service converged: A on a new leaf (new root), B on an old one (old root).
  const issueCrash = await rotateCa(["--step"], { SWARM_MTLS_TEST_CRASH_AFTER: "issue:converged" });
  t.not(issueCrash.code, 0);
  m = await bothWays(t, "mid-issue of a root rotation (one leaf under the new root, one under the old)");
  const newLeaf = m.a.crt === oldLeaf ? m.b.crt : m.a.crt;
  t.equal(count(newLeaf), 3, "a new leaf chain: leaf, new intermediate, cross certificate");
  t.same(matrix(newLeaf), { "old-only": true, both: true, "new-only": true }, "a new leaf verifies against old-only, both and new-only");
  const resumed = await rotateCa([]);
  t.equal(resumed.code, 0, `the second run completes the rotation${resumed.code === 0 ? "" : `: ${resumed.stderr}`}`);
  t.match(resumed.stdout, /finished issue \(phase issued\)[\s\S]*finished retire \(phase complete\)[\s\S]*next: complete/);
  m = await bothWays(t, "after retire");
  t.equal(m.a.ca.trim(), newRoot.trim(), "A's bundle: the new root only");
  t.equal(m.b.ca.trim(), newRoot.trim(), "B's bundle: the new root only");
  t.same(matrix(m.a.crt), { "old-only": true, both: true, "new-only": true });
  t.same(matrix(m.b.crt), { "old-only": true, both: true, "new-only": true });
  t.notOk(opensslVerify(newRoot, oldLeaf), "a leaf of the old CA no longer verifies (and none is mounted)");

  t.same(await crtGenerations(A), [2, 3], "A: one new generation for the root rotation, v1 pruned (nothing issued twice)");
  t.same(await crtGenerations(B), [2, 3], "B: one new generation");
  const secrets = [...(await secretsOf(A)), ...(await secretsOf(B))].map((s) => s.Spec.Name).sort();
  t.same(secrets, [`mtls.${A}.crt.v2`, `mtls.${A}.crt.v3`, `mtls.${A}.key.v2`, `mtls.${A}.key.v3`, `mtls.${B}.crt.v2`, `mtls.${B}.crt.v3`, `mtls.${B}.key.v2`, `mtls.${B}.key.v3`], "no orphan certificate or key secret");
  const s = await caState();
  t.equal(s.roots.length, 1);
  t.equal(s.chain, undefined, "no cross certificate in chains after retire");
  t.match(s.retired, [{ role: "intermediate" }, { role: "intermediate" }, { role: "root" }], "old root and intermediate retired");
  const status = JSON.parse((await cli(["--json", "status"])).stdout);
  t.match(status.caRotation, { kind: "root", phase: "complete", progress: { total: 2, onNewIntermediate: 2, onCurrentBundle: 2 } });
});

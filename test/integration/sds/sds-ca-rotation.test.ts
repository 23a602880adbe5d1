/**
 * CA rotation over SDS on the real sandbox swarm, with a CA of its own (the shared test CA is never rotated). Two
 * SDS-mode services A and B; an Envoy-like SDS client per service, authenticated with the bootstrap files its task
 * mounts, streams that service's working certificate and trust bundle from the real `serve`. Each client feeds a
 * "sidecar": A's is a TLS server that swaps in every pushed certificate and bundle, B's a TLS client that keeps
 * connecting to it with its own pushed certificate and bundle (mTLS both ways, 0 failures allowed). Every pushed
 * certificate is checked with `openssl verify` against the bundle pushed with it.
 *
 * - Intermediate rotation (`rotate-ca --step` prepares it, serve runs the other steps, one per reconcile): the streams
 *   get working certificates from the new intermediate, the bundle stays the same, and no task is restarted: the
 *   bootstrap certificates of the old intermediate still chain to the same root, so they are not replaced.
 * - Root rotation: the streams get the bundle with both roots, then working certificates from the new intermediate
 *   (chained through the cross certificate), then the bundle with the new root only, in that order. The bootstrap
 *   certificate's issuer must change (its root leaves the bundle), so those Swarm secrets are rolled.
 */
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import t, { type Test } from "tap";
import { runCli, type CliRun } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { handshakeOnce } from "../../helpers/handshakes.js";
import { streamSecrets, type SdsStreamClient } from "../../helpers/sds-client.js";
import { docker, FAST, freePorts, requireSwarmCli, runningContainer, TEST_IMAGE, until } from "../../helpers/swarm-test.js";
import { ownCa, removeOwnCa } from "../ca-rotation/fixtures/own-ca.js";

await requireSwarmCli({ needsCa: false });
t.setTimeout(30 * 60_000);

const ca = ownCa("sdsca", { leaseTtl: "30s" });
const A = `sdsca-${ca.tag}-a`;
const B = `sdsca-${ca.tag}-b`;
const TD = "sds-ca-rotation.test";
let serve: ServeProcess | null = null;
const streams: SdsStreamClient[] = [];

t.teardown(async () => {
  for (const s of streams) s.close();
  await serve?.kill();
  await removeOwnCa(ca, [A, B]);
});

const cli = (args: string[]): Promise<CliRun> => runCli(args, { env: ca.env, timeoutMs: 300_000 });
/** rotate-ca; serve may hold the lease for a reconcile, so "lease held" (exit 3) is retried for a while. */
async function rotateCaStep(kind: "intermediate" | "root"): Promise<CliRun> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await cli(["--json", "rotate-ca", ...(kind === "root" ? ["--root"] : []), "--step"]);
    if (r.code !== 3 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 1000));
  }
}

const taskIds = async (s: string): Promise<string[]> => (await docker("service", "ps", "-q", "--no-trunc", s)).split("\n").filter(Boolean).sort();
const pems = (s: string): string[] => s.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
const fpOf = (pem: string): string => new X509Certificate(pem).fingerprint256;

let fileNo = 0;
function opensslVerify(bundle: string, chain: string): string {
  const [leaf, ...rest] = pems(chain);
  const file = (s: string): string => {
    const p = join(ca.dir, `v${fileNo++}.pem`);
    writeFileSync(p, s.endsWith("\n") ? s : `${s}\n`);
    return p;
  };
  const args = ["verify", "-purpose", "sslserver", "-CAfile", file(bundle)];
  if (rest.length > 0) args.push("-untrusted", file(rest.join("")));
  args.push(file(leaf as string));
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  return r.status === 0 ? "OK" : `${r.stdout}${r.stderr}`.trim();
}

/** What one service's stream accepted: certificate chain, key and bundle, and what OpenSSL said of them. */
interface Pushed {
  chain: string;
  key: string;
  bundle: string;
  /** Fingerprint of the intermediate that issued the working certificate. */
  issuer: string;
  /** Fingerprints of the bundle's roots, in order. */
  roots: string[];
  verify: string;
}

interface Sidecar {
  spiffeId: string;
  pushes: Pushed[];
  current(): Pushed | undefined;
  stream: SdsStreamClient;
}

/** Reads the bootstrap files of the service's task and opens an SDS stream with them, like its Envoy would. */
async function sidecar(service: string, sdsPort: number): Promise<Sidecar> {
  const cid = await until(`${service}'s task with its bootstrap secrets`, 180_000, async () => {
    const c = await runningContainer(service, 10_000);
    return (await docker("exec", c, "cat", "/run/secrets/tls.crt").catch(() => "")).includes("BEGIN CERTIFICATE") ? c : undefined;
  });
  const read = (f: string) => docker("exec", cid, "cat", `/run/secrets/${f}`);
  const boot = { cert: await read("tls.crt"), key: await read("tls.key"), ca: await read("ca.crt") };
  const spiffeId = /URI:(spiffe:\/\/[^,\s]+)/.exec(new X509Certificate(boot.cert).subjectAltName ?? "")?.[1] ?? "";
  const bundleName = `spiffe://${TD}`;
  const pushes: Pushed[] = [];
  const stream = streamSecrets(`127.0.0.1:${sdsPort}`, boot, [spiffeId, bundleName], {
    judge: (r) => {
      const cert = r.resources.find((x) => x.name === spiffeId)?.tls_certificate;
      const bundle = r.resources.find((x) => x.name === bundleName)?.validation_context?.trusted_ca.inline_bytes.toString();
      if (!cert || !bundle) return "missing a secret";
      const chain = cert.certificate_chain.inline_bytes.toString();
      const verify = opensslVerify(bundle, chain);
      pushes.push({ chain, key: cert.private_key.inline_bytes.toString(), bundle, issuer: fpOf(pems(chain)[1] as string), roots: pems(bundle).map(fpOf), verify });
      return verify === "OK" ? null : `does not verify: ${verify}`;
    },
  });
  streams.push(stream);
  return { spiffeId, pushes, current: () => pushes.filter((x) => x.verify === "OK").at(-1), stream };
}

/**
 * A's sidecar serves with A's pushed certificate and bundle (swapped in on every push); B's connects with its own
 * pushed ones, checking that the server is A. Runs until stopped; counts completed and failed handshakes.
 */
function mesh(a: Sidecar, b: Sidecar) {
  let served: Pushed | undefined;
  const server = tls.createServer({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, (s) => s.end("ok"));
  const listening = new Promise<number>((r) => server.listen(0, "127.0.0.1", () => r((server.address() as { port: number }).port)));
  const result = { ok: 0, failures: [] as string[] };
  let running = true;
  const loop = (async () => {
    const port = await listening;
    while (running) {
      const mine = a.current();
      if (mine && mine !== served) {
        server.setSecureContext({ cert: mine.chain, key: mine.key, ca: mine.bundle });
        served = mine;
      }
      const theirs = b.current();
      if (served && theirs) {
        const failed = await handshakeOnce(port, { ca: theirs.bundle, cert: theirs.chain, key: theirs.key }, a.spiffeId);
        if (failed === null) result.ok++;
        else result.failures.push(failed);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    result,
    async stop() {
      running = false;
      await loop;
      server.close();
    },
  };
}

async function waitFor(what: string, s: Sidecar[], ok: (p: Pushed) => boolean, proc: ServeProcess): Promise<void> {
  await until(what, 600_000, async () => {
    assertServeRuns(proc);
    return s.every((x) => x.current() !== undefined && ok(x.current() as Pushed)) ? true : undefined;
  }).catch((e: Error) => {
    throw new Error(`${e.message} (errors: ${JSON.stringify(s.map((x) => x.stream.errors))}; serve's log: ${proc.log().slice(-2000)})`);
  });
}

t.test("setup: own CA, serve with SDS, two SDS-mode services with their streams", async (t) => {
  const init = await cli(["init", "--trust-domain", TD, "--kek-file", ca.env.SWARM_MTLS_KEK_FILE as string]);
  t.equal(init.code, 0, `init exits 0${init.code === 0 ? "" : `: ${init.stderr}`}`);
});

t.test("CA rotations push the new bundle and working certificates on the open streams; no handshake fails", async (t: Test) => {
  const [apiPort, sdsPort] = await freePorts(2, "127.0.0.1");
  serve = spawnServe(["--listen", `127.0.0.1:${apiPort}`, "--no-tls", "--sds-listen", `127.0.0.1:${sdsPort}`], { ...ca.env, SWARM_MTLS_SCHEDULE_CRON: "*/5 * * * * *", SWARM_MTLS_LOG_LEVEL: "info" });
  const proc = serve;
  await until("serve's SDS listener", 90_000, async () => {
    assertServeRuns(proc);
    return proc.log().includes("SDS serving") ? true : undefined;
  });
  for (const s of [A, B]) await docker("service", "create", "--detach", "--name", s, "--label", `${ca.tag}.enable=true`, "--label", `${ca.tag}.sds=true`, ...FAST, TEST_IMAGE, "sleep", "1d");
  const a = await sidecar(A, sdsPort);
  const b = await sidecar(B, sdsPort);
  await waitFor("a first working certificate on both streams", [a, b], () => true, proc);
  const first = a.current() as Pushed;
  const m = mesh(a, b);
  t.teardown(() => m.stop());

  // Intermediate rotation.
  const tasksBefore = { a: await taskIds(A), b: await taskIds(B) };
  const prep = await rotateCaStep("intermediate");
  t.equal(prep.code, 0, `rotate-ca --step (prepare, intermediate) exits 0${prep.code === 0 ? "" : `: ${prep.stderr}`}`);
  await waitFor("working certificates from the new intermediate on both streams", [a, b], (p) => p.issuer !== first.issuer, proc);
  await until("serve finishes the intermediate rotation", 600_000, async () => {
    assertServeRuns(proc);
    return proc.log().includes('"phase":"complete"') ? true : undefined;
  });
  const afterInt = a.current() as Pushed;
  t.same(afterInt.roots, first.roots, "intermediate rotation: the pushed bundle is the same root");
  t.same({ a: await taskIds(A), b: await taskIds(B) }, tasksBefore, "intermediate rotation: the same task IDs, no restart (the bootstraps still chain to the root)");
  t.equal(a.stream.opens + b.stream.opens, 2, "intermediate rotation: one stream per service, never reopened");

  // Root rotation: serve runs trust, issue and retire, one per reconcile.
  const root = await rotateCaStep("root");
  t.equal(root.code, 0, `rotate-ca --root --step (prepare) exits 0${root.code === 0 ? "" : `: ${root.stderr}`}`);
  await waitFor("the bundle with both roots", [a, b], (p) => p.roots.length === 2, proc);
  await waitFor("working certificates from the new root's intermediate", [a, b], (p) => p.issuer !== afterInt.issuer, proc);
  await waitFor("the bundle with the new root only", [a, b], (p) => p.roots.length === 1 && p.roots[0] !== first.roots[0], proc);
  await m.stop();

  for (const [name, s] of [["A", a], ["B", b]] as const) {
    t.same(s.pushes.filter((p) => p.verify !== "OK").map((p) => p.verify), [], `${name}: every pushed certificate verifies with OpenSSL against the bundle pushed with it`);
    // The states each stream went through, in order (a push may renew both at once, so repeated states collapse).
    const states: string[] = [];
    for (const p of s.pushes) {
      const st = `${p.roots.length === 2 ? "both roots" : p.roots[0] === first.roots[0] ? "old root" : "new root"}, ${p.issuer === first.issuer ? "first" : p.issuer === afterInt.issuer ? "second" : "third"} intermediate`;
      if (states.at(-1) !== st) states.push(st);
    }
    t.same(states, ["old root, first intermediate", "old root, second intermediate", "both roots, second intermediate", "both roots, third intermediate", "new root, third intermediate"], `${name}: bundle and working certificate changed in the safe order`);
    t.equal(s.stream.opens, 1, `${name}: one stream for both rotations`);
    t.same(s.stream.errors, [], `${name}: the stream never failed`);
  }
  t.same(m.result.failures, [], "no handshake failed between A's and B's sidecars through both rotations");
  t.ok(m.result.ok > 10, `handshakes completed across the rotations (${m.result.ok})`);
  const restarted = (await taskIds(A)).filter((x) => !tasksBefore.a.includes(x)).length;
  t.ok(restarted > 0, `root rotation: A's bootstrap secrets were rolled (its root left the bundle): ${restarted} new task(s)`);
});

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
 *   (chained through the cross certificate), then the bundle with the new root only, in that order. Each SDS-mode
 *   service's tasks restart exactly once (the issue phase re-issues the bootstrap, whose root is leaving, with a
 *   `ca.crt` of both roots); the trust and retire phases leave the bootstrap secrets alone. Throughout, a probe per
 *   service does what a restarting Envoy would: with the bootstrap files its running task mounts, it fetches its
 *   secrets over a new mTLS connection and checks the SDS listener's presented chain with `openssl verify` against
 *   that `ca.crt` (0 failures). After the rotation the bootstrap `ca.crt` still holds both roots, and
 *   `rotate --all --force` replaces it with the new root only.
 */
import { execFile, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import t, { type Test } from "tap";
import { runCli, type CliRun } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, untilServeSays, type ServeProcess } from "../../helpers/serve-process.js";
import { handshakeOnce } from "../../helpers/handshakes.js";
import { fetchSecrets, streamSecrets, type SdsStreamClient } from "../../helpers/sds-client.js";
import { taskBootstrap } from "../../helpers/sds-sidecar.js";
import { docker, FAST, freePorts, requireSwarmCli, TEST_IMAGE, until } from "../../helpers/swarm-test.js";
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

/** The chain the SDS listener presents to a client with these bootstrap files (`openssl s_client -showcerts`). */
function listenerChain(sdsPort: number, boot: { cert: string; key: string }): Promise<string> {
  const cert = join(ca.dir, `probe-${fileNo++}.crt`);
  const key = join(ca.dir, `probe-${fileNo++}.key`);
  writeFileSync(cert, boot.cert);
  writeFileSync(key, boot.key, { mode: 0o600 });
  return new Promise((resolve) => {
    const child = execFile("openssl", ["s_client", "-connect", `127.0.0.1:${sdsPort}`, "-servername", "localhost", "-alpn", "h2", "-cert", cert, "-key", key, "-showcerts"], { timeout: 15_000 }, (_e, stdout) => resolve(pems(stdout).join("")));
    child.stdin?.end();
  });
}

/** The bootstrap files a service's running task mounts (newest running container), or undefined between tasks. */
async function mountedBootstrap(service: string, cache: Map<string, { cert: string; key: string; ca: string }>): Promise<{ task: string; cert: string; key: string; ca: string } | undefined> {
  const cid = (await docker("ps", "-q", "--no-trunc", "-f", `label=com.docker.swarm.service.name=${service}`).catch(() => "")).split("\n").filter(Boolean)[0];
  if (!cid) return undefined;
  let boot = cache.get(cid);
  if (!boot) {
    const read = (f: string) => docker("exec", cid, "cat", `/run/secrets/${f}`);
    boot = await Promise.all([read("tls.crt"), read("tls.key"), read("ca.crt")]).then(([cert, key, caPem]) => ({ cert, key, ca: caPem })).catch(() => undefined);
    if (!boot || !boot.cert.includes("BEGIN CERTIFICATE")) return undefined;
    cache.set(cid, boot);
  }
  return { task: cid, ...boot };
}

/** One look by a "restarting Envoy": which bootstrap it had, which listener chain it saw, and what came of it. */
interface Probe {
  service: string;
  task: string;
  /** Fingerprints of the roots in the task's bootstrap `ca.crt`. */
  caRoots: string[];
  /** Fingerprint of the intermediate that issued the listener's certificate, and whether the cross certificate follows. */
  listenerIssuer: string;
  listenerCross: boolean;
  /** `openssl verify` of the listener's chain against the task's `ca.crt`. */
  verify: string;
  /** FetchSecrets with the task's bootstrap files over a new connection: null when both secrets came back. */
  fetch: string | null;
}

/** Probes each service every ~second until stopped (see Probe). */
function bootstrapProbes(services: string[], sdsPort: number, spiffeOf: (service: string) => string) {
  const probes: Probe[] = [];
  const cache = new Map<string, { cert: string; key: string; ca: string }>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const service of services) {
        const boot = await mountedBootstrap(service, cache);
        if (!boot) continue;
        const chain = await listenerChain(sdsPort, boot);
        const certs = pems(chain);
        if (certs.length < 2) continue; // the connection did not get as far as the listener's certificate (retried)
        const fetch = await fetchSecrets(`127.0.0.1:${sdsPort}`, boot, [spiffeOf(service), `spiffe://${TD}`]).then(
          (r) => (r.resources.length === 2 ? null : `${r.resources.length} secrets`),
          (e: Error) => e.message,
        );
        probes.push({ service, task: boot.task, caRoots: pems(boot.ca).map(fpOf), listenerIssuer: fpOf(certs[1] as string), listenerCross: certs.length > 2, verify: opensslVerify(boot.ca, chain), fetch });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    probes,
    async stop() {
      running = false;
      await loop;
    },
  };
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
  const { boot, spiffeId } = await taskBootstrap(service);
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

/** serve's record of what it rolled for one service and the CA rotation steps, in order (for a failure's message). */
function rollouts(proc: ServeProcess, service: string): string {
  return proc
    .log()
    .split("\n")
    .flatMap((l) => {
      try {
        const j = JSON.parse(l) as { time?: string | number; msg?: string; service?: string; reason?: string; step?: string; event?: string; generation?: { from: number | null; to: number | null } };
        if (j.msg === "CA rotation step finished") return [`step ${j.step}`];
        if (j.service === service && (j.event === "rotate" || j.event === "reattach" || /^(rotated|reattached) /.test(j.msg ?? ""))) return [`${j.msg}${j.generation ? ` ${j.generation.from}→${j.generation.to}` : ""}`];
      } catch {
        /* not a JSON line */
      }
      return [];
    })
    .join("; ");
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
  await untilServeSays(proc, "SDS serving");
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
  const tasksBeforeRoot = { a: await taskIds(A), b: await taskIds(B) };
  const probe = bootstrapProbes([A, B], sdsPort, (s) => (s === A ? a.spiffeId : b.spiffeId));
  t.teardown(() => probe.stop());
  await until("a first bootstrap probe of both services", 120_000, async () => (new Set(probe.probes.map((p) => p.service)).size === 2 ? true : undefined));
  const root = await rotateCaStep("root");
  t.equal(root.code, 0, `rotate-ca --root --step (prepare) exits 0${root.code === 0 ? "" : `: ${root.stderr}`}`);
  await waitFor("the bundle with both roots", [a, b], (p) => p.roots.length === 2, proc);
  await waitFor("working certificates from the new root's intermediate", [a, b], (p) => p.issuer !== afterInt.issuer, proc);
  await waitFor("the bundle with the new root only", [a, b], (p) => p.roots.length === 1 && p.roots[0] !== first.roots[0], proc);
  await until("serve finishes the root rotation", 600_000, async () => {
    assertServeRuns(proc);
    return (proc.log().match(/"phase":"complete"/g) ?? []).length >= 2 ? true : undefined;
  });
  // Probes of the last state: the listener's certificate of the new root only, against the bootstraps kept.
  const settled = probe.probes.length;
  await until("two probes after the rotation", 120_000, async () => (probe.probes.length >= settled + 4 ? true : undefined));
  await probe.stop();
  await m.stop();
  const newRoot = (a.current() as Pushed).roots[0] as string;

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

  // Restarts: one per SDS-mode service across the root rotation (its issue phase), none in trust or retire.
  for (const [name, s, before] of [["A", A, tasksBeforeRoot.a], ["B", B, tasksBeforeRoot.b]] as const) {
    const fresh = (await taskIds(s)).filter((x) => !before.includes(x));
    t.equal(fresh.length, 1, `${name}: root rotation restarted its task once (the bootstrap re-issued in the issue phase), not once per phase: ${fresh.length} new task(s)${fresh.length === 1 ? "" : `; serve's rollouts: ${rollouts(proc, s)}`}`);
  }

  // What a restarting Envoy would have met at every moment: 0 failures, every listener chain verified by OpenSSL.
  const kind = (roots: string[]): string => (roots.length === 2 ? "both roots" : roots[0] === first.roots[0] ? "old root" : roots[0] === newRoot ? "new root" : "?");
  const seen = new Map<string, number>();
  for (const p of probe.probes) {
    const k = `ca.crt ${kind(p.caRoots)} / listener of the ${p.listenerIssuer === afterInt.issuer ? "second" : p.listenerIssuer === (a.current() as Pushed).issuer ? "third" : "?"} intermediate${p.listenerCross ? " + cross" : ""}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  t.comment(`bootstrap probes: ${JSON.stringify(Object.fromEntries(seen))}`);
  t.same(probe.probes.filter((p) => p.verify !== "OK").map((p) => `${p.service}: ${p.verify}`), [], `the SDS listener's chain verified with openssl against the task's bootstrap ca.crt in every probe (${probe.probes.length})`);
  t.same(probe.probes.filter((p) => p.fetch !== null).map((p) => `${p.service}: ${p.fetch}`), [], "FetchSecrets with the running task's bootstrap files succeeded in every probe");
  t.ok(seen.has("ca.crt old root / listener of the second intermediate"), "probed: the old-root bootstrap against the listener of the old root (before and during the trust phase)");
  t.ok(seen.has("ca.crt both roots / listener of the third intermediate"), "probed: the two-root bootstrap against the listener of the new root only (retire: the bootstrap is not rolled)");
  for (const s of [A, B]) {
    const last = probe.probes.filter((p) => p.service === s).at(-1) as Probe;
    t.same(last.caRoots.map((r) => kind([r])), ["new root", "old root"], `${s}: after the rotation the bootstrap ca.crt still holds both roots (kept until its renewal)`);
  }

  // The operator's word: rotate --all --force re-issues the bootstraps, and their ca.crt drops the old root.
  const forced = await cli(["--json", "rotate", "--all", "--force"]);
  t.equal(forced.code, 0, `rotate --all --force exits 0${forced.code === 0 ? "" : `: ${forced.stderr}`}`);
  for (const s of [A, B]) {
    const boot = await mountedBootstrap(s, new Map());
    t.same(pems(boot?.ca ?? "").map((r) => kind([fpOf(r)])), ["new root"], `${s}: after rotate --all --force the bootstrap ca.crt holds the new root only`);
  }
});

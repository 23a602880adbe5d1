/**
 * Two `serve` replicas serving SDS at once against one swarm (the shared test CA, this file's own label prefix and
 * lease). An SDS-mode service's Envoy-like client is configured with both SDS endpoints, as Envoy's `swarm_mtls_sds`
 * cluster is (STRICT_DNS over `tasks.<ca service>`: one host per replica, ROUND_ROBIN). It streams from the first;
 * that replica is killed (SIGKILL); the client backs off as Envoy does and opens its stream on the other replica,
 * which goes on pushing working certificates of the same identity (renewed every ~13 s: 20-second certificates). All
 * the while a TLS server swapping in each pushed certificate keeps accepting mTLS handshakes (0 failures: the last
 * certificate stays valid while the stream moves), the service keeps its task, and the bootstrap certificate was
 * issued once although both replicas reconcile (rotations run under the lease).
 */
import { spawnSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import t from "tap";
import { swarmTestEnv } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { keepHandshaking } from "../../helpers/handshakes.js";
import { streamSecrets } from "../../helpers/sds-client.js";
import { docker, FAST, freePorts, removeTestServices, requireSwarmCli, runningContainer, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

await requireSwarmCli();
const world = swarmTestEnv();
const p = world.prefix;
const svc = `sdsfo-${world.tag}-${randomBytes(2).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "sds-failover-"));
const replicas: ServeProcess[] = [];

t.teardown(async () => {
  for (const r of replicas) await r.kill();
  await removeTestServices([svc], world.env.SWARM_MTLS_ROTATION_LEASE_NAME as string);
  rmSync(dir, { recursive: true, force: true });
});

const taskIds = async (): Promise<string[]> => (await docker("service", "ps", "-q", "--no-trunc", svc)).split("\n").filter(Boolean).sort();
const crtGenerations = async (): Promise<string[]> =>
  (await docker("secret", "ls", "--format", "{{.Name}}", "--filter", `label=io.swarm-mtls.identity=${svc}`, "--filter", "label=io.swarm-mtls.kind=crt")).split("\n").filter(Boolean);

let n = 0;
function opensslVerify(bundle: string, chain: string): string {
  const file = (s: string): string => {
    const f = join(dir, `v${n++}.pem`);
    writeFileSync(f, s);
    return f;
  };
  const r = spawnSync("openssl", ["verify", "-CAfile", file(bundle), "-untrusted", file(chain), file(new X509Certificate(chain).toString())], { encoding: "utf8" });
  return r.status === 0 ? "OK" : `${r.stdout}${r.stderr}`.trim();
}

t.test("two serve replicas serve SDS; the client's stream fails over to the second when the first is killed", async (t) => {
  // The two replicas' API and SDS ports: four different ones.
  const ports = await freePorts(4, "127.0.0.1");
  const sdsPorts = [ports[1], ports[3]];
  for (const [apiPort, sdsPort] of [[ports[0], ports[1]], [ports[2], ports[3]]]) {
    replicas.push(
      spawnServe(["--listen", `127.0.0.1:${apiPort}`, "--no-tls", "--sds-listen", `127.0.0.1:${sdsPort}`], {
        ...world.env,
        SWARM_MTLS_SCHEDULE_CRON: "*/10 * * * * *",
        SWARM_MTLS_SDS_WORKING_TTL: "20s",
        SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL: "10",
      }),
    );
  }
  const [first, second] = replicas as [ServeProcess, ServeProcess];
  await until("both replicas' SDS listeners", 90_000, async () => {
    for (const r of replicas) assertServeRuns(r);
    return replicas.every((r) => r.log().includes("SDS serving")) ? true : undefined;
  });

  await docker("service", "create", "--detach", "--name", svc, "--label", `${p}enable=true`, "--label", `${p}sds=true`, ...FAST, TEST_IMAGE, "sleep", "1d");
  const cid = await until("the task to run with its bootstrap secrets", 180_000, async () => {
    const c = await runningContainer(svc, 10_000);
    return (await docker("exec", c, "cat", "/run/secrets/tls.crt").catch(() => "")).includes("BEGIN CERTIFICATE") ? c : undefined;
  });
  const read = (f: string) => docker("exec", cid, "cat", `/run/secrets/${f}`);
  const boot = { cert: await read("tls.crt"), key: await read("tls.key"), ca: await read("ca.crt") };
  const spiffeId = /URI:(spiffe:\/\/[^,\s]+)/.exec(new X509Certificate(boot.cert).subjectAltName ?? "")?.[1] ?? "";
  const bundleName = `spiffe://${/^spiffe:\/\/([^/]+)\//.exec(spiffeId)?.[1] as string}`;
  const tasksBefore = await taskIds();

  // The sidecar: a TLS server swapping in every pushed certificate; a client of the same CA keeps connecting.
  let current: { key: string; cert: string; ca: string } | null = null;
  const server = tls.createServer({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, (s) => s.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const pushed: { serial: string; sans: string; verify: string }[] = [];
  const endpoints = sdsPorts.map((x) => `127.0.0.1:${x}`);
  const stream = streamSecrets(endpoints, boot, [spiffeId, bundleName], {
    reconnect: true,
    judge: (r) => {
      const cert = r.resources.find((x) => x.name === spiffeId)?.tls_certificate;
      const bundle = r.resources.find((x) => x.name === bundleName)?.validation_context?.trusted_ca.inline_bytes.toString();
      if (!cert || !bundle) return "missing a secret";
      const chain = cert.certificate_chain.inline_bytes.toString();
      const x = new X509Certificate(chain);
      const verify = opensslVerify(bundle, chain);
      pushed.push({ serial: x.serialNumber, sans: x.subjectAltName ?? "", verify });
      if (verify !== "OK") return verify;
      current = { key: cert.private_key.inline_bytes.toString(), cert: chain, ca: bundle };
      server.setSecureContext({ ...current });
      return null;
    },
  });
  // The bootstrap certificate is the client, trusting the bundle pushed with the certificate the server serves.
  const handshakes = keepHandshaking(port, () => (current ? { ca: (current as { ca: string }).ca, cert: boot.cert, key: boot.key } : null), spiffeId);
  t.teardown(() => {
    void handshakes.stop();
    stream.close();
    server.close();
  });
  const fromEndpoint = (e: string) => stream.accepted.filter((a) => a.from === e).length;
  const explain = (e: Error) => {
    throw new Error(`${e.message} (accepted from ${JSON.stringify(stream.accepted.map((a) => a.from))}, opens ${JSON.stringify(stream.endpoints)}, errors: ${JSON.stringify(stream.errors)}; second replica's log: ${second.log().slice(-1500)})`);
  };

  await until("two working certificates from the first replica", 120_000, async () => (fromEndpoint(endpoints[0] as string) >= 2 ? true : undefined)).catch(explain);
  const killedAt = Date.now();
  await first.kill();
  await until("two working certificates from the second replica", 120_000, async () => (fromEndpoint(endpoints[1] as string) >= 2 ? true : undefined)).catch(explain);
  const firstFromSecond = stream.accepted.find((a) => a.from === endpoints[1]) as { at: number };
  await handshakes.stop();

  t.equal(stream.endpoints[0], endpoints[0], "the stream opened on the first replica");
  t.equal(stream.endpoints.at(-1), endpoints[1], "after the kill it is open on the second");
  t.ok(stream.errors.length >= 1 && stream.errors.every((e) => e.code === 14), `the first stream ended UNAVAILABLE (${JSON.stringify(stream.errors.map((e) => e.code))})`);
  t.ok(pushed.every((x) => x.sans.includes(`URI:${spiffeId}`)), "every pushed certificate is of the same identity");
  t.same(pushed.filter((x) => x.verify !== "OK"), [], "every pushed certificate verifies with OpenSSL against the pushed bundle");
  t.equal(new Set(pushed.map((x) => x.serial)).size, pushed.length, "each push is a new certificate");
  t.same(handshakes.failures, [], "no handshake failed while the stream moved");
  t.ok(handshakes.ok > 10, `handshakes completed (${handshakes.ok})`);
  t.same(await taskIds(), tasksBefore, "the same task IDs: no task restart");
  t.equal((await crtGenerations()).length, 1, "the bootstrap certificate was issued once although two replicas reconcile");
  t.comment(`failover: first certificate from the second replica ${((firstFromSecond.at - killedAt) / 1000).toFixed(1)} s after the kill (Envoy's backoff: up to 0.5 s, then up to 1 s, …)`);
});

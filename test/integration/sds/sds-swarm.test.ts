/**
 * Hot rotation on the real sandbox swarm: a service labelled `enable=true` + `sds=true` gets its bootstrap
 * certificate as Swarm secrets (7 days); an Envoy-like SDS client authenticated with exactly those files (read from
 * the task's /run/secrets) streams the working certificate from the real `serve`. Across at least three working
 * certificate rotations the service keeps the same task IDs, while a TLS server swapping in each pushed certificate
 * keeps completing mTLS handshakes with a client of the same CA (0 failures), and each pushed certificate verifies with
 * OpenSSL against the pushed bundle. Then the `sds` label is removed: the open stream is closed and a new one refused.
 *
 * The SDS client stands in for Envoy (the sandbox has no Envoy image); it speaks the protocol from Envoy's protos.
 * Working certificates live 20 s here (SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL lowers the floor; real clock).
 */
import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import t from "tap";
import { swarmTestEnv } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { keepHandshaking } from "../../helpers/handshakes.js";
import { streamSecrets, type Accepted } from "../../helpers/sds-client.js";
import { docker, FAST, freePorts, removeTestServices, requireSwarmCli, runningContainer, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

await requireSwarmCli();
const world = swarmTestEnv();
const p = world.prefix;
const svc = `sds-${world.tag}-${randomBytes(2).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "sds-swarm-"));
let serve: ServeProcess | null = null;

t.teardown(async () => {
  await serve?.kill();
  await removeTestServices([svc], world.env.SWARM_MTLS_ROTATION_LEASE_NAME as string);
  rmSync(dir, { recursive: true, force: true });
});

const taskIds = async (): Promise<string[]> => (await docker("service", "ps", "-q", "--no-trunc", svc)).split("\n").filter(Boolean).sort();
const readSecret = async (cid: string, file: string): Promise<string> => docker("exec", cid, "cat", `/run/secrets/${file}`);

t.test("an SDS-mode service keeps its tasks across working-certificate rotations; handshakes never fail", async (t) => {
  const [apiPort, sdsPort] = await freePorts(2, "127.0.0.1");
  serve = spawnServe(["--listen", `127.0.0.1:${apiPort}`, "--no-tls", "--sds-listen", `127.0.0.1:${sdsPort}`], {
    ...world.env,
    SWARM_MTLS_SCHEDULE_CRON: "*/5 * * * *",
    SWARM_MTLS_SDS_WORKING_TTL: "20s",
    SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL: "10",
  });
  const proc = serve;
  await until("serve's SDS listener", 90_000, async () => {
    assertServeRuns(proc);
    return proc.log().includes("SDS serving") ? true : undefined;
  });

  await docker("service", "create", "--detach", "--name", svc, "--label", `${p}enable=true`, "--label", `${p}sds=true`, ...FAST, TEST_IMAGE, "sleep", "1d");
  const cid = await until("the task to run with its bootstrap secrets", 180_000, async () => {
    const c = await runningContainer(svc, 10_000);
    return (await readSecret(c, "tls.crt").catch(() => "")).includes("BEGIN CERTIFICATE") ? c : undefined;
  });
  const boot = { cert: await readSecret(cid, "tls.crt"), key: await readSecret(cid, "tls.key"), ca: await readSecret(cid, "ca.crt") };
  const bootX = new X509Certificate(boot.cert);
  const spiffeId = /URI:(spiffe:\/\/[^,\s]+)/.exec(bootX.subjectAltName ?? "")?.[1] ?? "";
  t.match(spiffeId, /^spiffe:\/\/[^/]+\/id\//, "the bootstrap certificate carries the service's SPIFFE ID");
  const bootDays = (Date.parse(bootX.validTo) - Date.parse(bootX.validFrom)) / 86400_000;
  t.ok(bootDays > 6.9 && bootDays < 7.1, `the bootstrap tier lives sds.bootstrapTtl, 7 days (${bootDays.toFixed(2)})`);
  const trustDomain = /^spiffe:\/\/([^/]+)\//.exec(spiffeId)?.[1] as string;
  const tasksBefore = await taskIds();

  // The "sidecar": a TLS server that swaps in every pushed working certificate, and a client of the same CA (the
  // bootstrap certificate) that keeps connecting to it.
  let current: { key: string; cert: string; ca: string } | null = null;
  const server = tls.createServer({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, (s) => s.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const verified: string[] = [];
  const stream = streamSecrets(`127.0.0.1:${sdsPort}`, boot, [spiffeId, `spiffe://${trustDomain}`], {
    judge: (r) => {
      const cert = r.resources.find((x) => x.name === spiffeId)?.tls_certificate;
      const bundle = r.resources.find((x) => x.name === `spiffe://${trustDomain}`)?.validation_context?.trusted_ca.inline_bytes.toString();
      if (!cert || !bundle) return "missing a secret";
      const chain = cert.certificate_chain.inline_bytes.toString();
      writeFileSync(join(dir, "bundle.pem"), bundle);
      writeFileSync(join(dir, "chain.pem"), chain);
      writeFileSync(join(dir, "leaf.pem"), new X509Certificate(chain).toString());
      verified.push(execFileSync("openssl", ["verify", "-CAfile", join(dir, "bundle.pem"), "-untrusted", join(dir, "chain.pem"), join(dir, "leaf.pem")], { encoding: "utf8" }).trim());
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

  // What the stream and serve said is read when the wait gives up, not when it starts.
  await until("4 working certificates on one stream", 180_000, async () => (stream.accepted.length >= 4 ? true : undefined)).catch((e: Error) => {
    throw new Error(`${e.message} (accepted ${stream.accepted.length}, opens ${stream.opens}, errors: ${JSON.stringify(stream.errors)}; serve's log: ${proc.log().slice(-1500)})`);
  });
  await handshakes.stop();
  const accepted: Accepted[] = stream.accepted;
  t.equal(stream.opens, 1, "one stream for the whole run");
  t.equal(new Set(accepted.map((a) => a.version)).size, accepted.length, "each push is a new version");
  t.same(verified.slice(0, 4).map((v) => /: OK$/.test(v)), [true, true, true, true], "each pushed certificate verifies with OpenSSL against the pushed bundle");
  t.same(handshakes.failures, [], "no handshake failed");
  t.ok(handshakes.ok > 20, `handshakes completed across the rotations (${handshakes.ok})`);
  t.same(await taskIds(), tasksBefore, "the same task IDs: no task was restarted");

  // Opted out: the `sds` label goes, the stream is closed at the next reconcile (a Docker event starts one).
  await docker("service", "update", "--detach", "--label-rm", `${p}sds`, svc);
  await until("the stream closed after the opt-out", 120_000, async () => (stream.errors.some((e) => e.code === 7) ? true : undefined));
  t.match(stream.errors.find((e) => e.code === 7), { details: /no longer opted in/ }, "PERMISSION_DENIED: no longer opted in");
  const again = streamSecrets(`127.0.0.1:${sdsPort}`, boot, [spiffeId]);
  await until("a new stream refused", 30_000, async () => (again.errors.length > 0 || again.accepted.length > 0 ? true : undefined));
  again.close();
  t.same(again.accepted, [], "nothing issued for an identity no longer opted in");
  t.match(again.errors[0], { code: 7 });
});

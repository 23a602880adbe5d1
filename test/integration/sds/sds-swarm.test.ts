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
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { swarmTestEnv } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { streamSecrets, type Accepted } from "../../helpers/sds-client.js";
import { taskBootstrap, sdsSidecar } from "../../helpers/sds-sidecar.js";
import { docker, FAST, freePorts, removeTestServices, requireSwarmCli, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

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
  const { boot, spiffeId } = await taskBootstrap(svc);
  const bootX = new X509Certificate(boot.cert);
  t.match(spiffeId, /^spiffe:\/\/[^/]+\/id\//, "the bootstrap certificate carries the service's SPIFFE ID");
  const bootDays = (Date.parse(bootX.validTo) - Date.parse(bootX.validFrom)) / 86400_000;
  t.ok(bootDays > 6.9 && bootDays < 7.1, `the bootstrap tier lives sds.bootstrapTtl, 7 days (${bootDays.toFixed(2)})`);
  const trustDomain = /^spiffe:\/\/([^/]+)\//.exec(spiffeId)?.[1] as string;
  const tasksBefore = await taskIds();

  const sidecar = await sdsSidecar({ sdsPort, boot, spiffeId, trustDomain, dir });
  const { stream, handshakes } = sidecar;
  t.teardown(() => sidecar.stop());

  // What the stream and serve said is read when the wait gives up, not when it starts.
  await until("4 working certificates on one stream", 180_000, async () => (stream.accepted.length >= 4 ? true : undefined)).catch((e: Error) => {
    throw new Error(`${e.message} (accepted ${stream.accepted.length}, opens ${stream.opens}, errors: ${JSON.stringify(stream.errors)}; serve's log: ${proc.log().slice(-1500)})`);
  });
  await handshakes.stop();
  const accepted: Accepted[] = stream.accepted;
  const verified = sidecar.pushes.map((x) => x.verify);
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

/**
 * Hot rotation through an operator's `rotate-ca` on the real sandbox swarm, with a CA of its own (the shared test CA
 * is never rotated). One SDS-mode service; an Envoy-like sidecar (test/helpers/sds-sidecar.ts) streams its working
 * certificate, 20 s lifetimes here, from the real `serve`, whose schedule never fires: what it learns, it learns from
 * Docker's events. Across at least three working-certificate rotations and then an intermediate CA rotation run by the
 * CLI (`rotate-ca`, every phase, the lease taken by the CLI), the service keeps the same task IDs, the stream is never
 * reopened, every push verifies with OpenSSL against the bundle pushed with it, and no handshake fails. The working
 * certificate from the new intermediate comes without any reconcile: serve reads the new CA-state config when Docker
 * says it was created.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { runCli } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, untilServeSays, type ServeProcess } from "../../helpers/serve-process.js";
import { sdsSidecar, taskBootstrap } from "../../helpers/sds-sidecar.js";
import { docker, FAST, freePorts, requireSwarmCli, TEST_IMAGE, until } from "../../helpers/swarm-test.js";
import { ownCa, removeOwnCa } from "../ca-rotation/fixtures/own-ca.js";

await requireSwarmCli({ needsCa: false });
t.setTimeout(15 * 60_000);

const ca = ownCa("sdscli", { leaseTtl: "30s" });
const svc = `sdscli-${ca.tag}`;
const TD = "sds-cli-rotate-ca.test";
const dir = mkdtempSync(join(tmpdir(), "sds-cli-rotate-ca-"));
let serve: ServeProcess | null = null;

t.teardown(async () => {
  await serve?.kill();
  await removeOwnCa(ca, [svc]);
  rmSync(dir, { recursive: true, force: true });
});

const taskIds = async (): Promise<string[]> => (await docker("service", "ps", "-q", "--no-trunc", svc)).split("\n").filter(Boolean).sort();

t.test("working-certificate rotations, then the CLI's rotate-ca: pushed on the open stream, no restart", async (t) => {
  const init = await runCli(["init", "--trust-domain", TD, "--kek-file", ca.env.SWARM_MTLS_KEK_FILE as string], { env: ca.env });
  t.equal(init.code, 0, `init exits 0${init.code === 0 ? "" : `: ${init.stderr}`}`);
  const [apiPort, sdsPort] = await freePorts(2, "127.0.0.1");
  serve = spawnServe(["--listen", `127.0.0.1:${apiPort}`, "--no-tls", "--sds-listen", `127.0.0.1:${sdsPort}`], {
    ...ca.env,
    SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *",
    SWARM_MTLS_SDS_WORKING_TTL: "20s",
    SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL: "10",
    SWARM_MTLS_LOG_LEVEL: "info",
  });
  const proc = serve;
  await untilServeSays(proc, "SDS serving");
  // Created after serve started: its bootstrap comes from the reconcile of the service's Docker event.
  await docker("service", "create", "--detach", "--name", svc, "--label", `${ca.tag}.enable=true`, "--label", `${ca.tag}.sds=true`, ...FAST, TEST_IMAGE, "sleep", "1d");
  const { boot, spiffeId } = await taskBootstrap(svc);
  const tasksBefore = await taskIds();
  const sidecar = await sdsSidecar({ sdsPort, boot, spiffeId, trustDomain: TD, dir });
  t.teardown(() => sidecar.stop());
  const { stream, pushes } = sidecar;
  const failing = (e: Error): never => {
    throw new Error(`${e.message} (pushes ${pushes.length}, opens ${stream.opens}, errors: ${JSON.stringify(stream.errors)}; serve's log: ${proc.log().slice(-2000)})`);
  };

  // The first working certificate and three renewals of it, all from the first intermediate.
  await until("4 working certificates on one stream", 180_000, async () => (pushes.length >= 4 ? true : undefined)).catch(failing);
  const first = pushes[0]?.issuer as string;
  t.same(new Set(pushes.map((p) => p.issuer)), new Set([first]), "the first four pushes come from the first intermediate");
  t.equal(new Set(pushes.map((p) => p.serial)).size, pushes.length, "each push is a new working certificate (3 rotations at least)");

  // The operator's intermediate rotation, every phase run by the CLI under its own lease.
  const pushedBefore = pushes.length;
  const rotated = await runCli(["--json", "rotate-ca"], { env: ca.env, timeoutMs: 300_000 });
  t.equal(rotated.code, 0, `rotate-ca exits 0${rotated.code === 0 ? "" : `: ${rotated.stderr}`}`);
  const fromNew = await until("a working certificate from the new intermediate on the open stream", 120_000, async () => pushes.slice(pushedBefore).find((p) => p.issuer !== first)).catch(failing);
  t.ok(fromNew.issuer !== first, "the stream got a working certificate from the new intermediate");
  // serve's log reaches the pipe in batches: waited for, not read once.
  const said = await untilServeSays(proc, "the CA state changed in the store; reading it now", 30_000).then(() => true, () => false);
  t.ok(said, `serve read the new CA state on Docker's config event (its schedule never fires)${said ? "" : `; serve's log: ${proc.log().slice(-3000)}`}`);
  t.notMatch(proc.log(), /"trigger":"schedule"/, "no scheduled reconcile ran");

  // A few handshakes more with the new certificate served, then the verdict.
  const after = sidecar.handshakes.ok;
  await until("handshakes against the new certificate", 60_000, async () => (sidecar.handshakes.ok >= after + 5 ? true : undefined));
  await sidecar.handshakes.stop();
  t.same(pushes.filter((p) => !/: OK$/.test(p.verify)).map((p) => p.verify), [], `every pushed certificate verifies with OpenSSL against the bundle pushed with it (${pushes.length})`);
  t.equal(stream.opens, 1, "one stream for the whole run, never reopened");
  t.same(stream.errors, [], "the stream never failed");
  t.same(sidecar.handshakes.failures, [], `no handshake failed (${sidecar.handshakes.ok} completed)`);
  t.same(await taskIds(), tasksBefore, "the same task IDs through the working rotations and the CA rotation: no restart");
});

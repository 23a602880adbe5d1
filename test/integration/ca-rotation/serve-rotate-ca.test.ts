/**
 * `serve` rotates an intermediate that is due by itself, one phase per reconcile, on the real swarm and with a CA of
 * its own. The CA is made with a 1-hour intermediate and serve runs with ca.rotateBefore 0.99 (so that intermediate
 * is due at once) and a 1-year intermediate lifetime (so the new one is not). While serve works, `GET /v1/ca` over
 * real HTTP shows the phase and the services done / total, and two services keep completing mTLS handshakes with
 * each other using the files their tasks mount. The docker CLI and the served HTTP API are the oracles.
 */
import t from "tap";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { runCli, type CliRun } from "../../helpers/cli.js";
import { docker, FAST, freePort, requireSwarmCli, TEST_IMAGE, until } from "../../helpers/swarm-test.js";
import { bothWays, crtGenerations, noOrphans, ownCa, removeOwnCa } from "./fixtures/own-ca.js";

await requireSwarmCli({ needsCa: false });
// Longer than the runner's default per-file timeout: serve rolls every service once; about 7 minutes on a loaded 2-CPU machine.
t.setTimeout(25 * 60_000);

const ca = ownCa("sca", { leaseTtl: "30s" });
const A = `sca-${ca.tag}-a`;
const B = `sca-${ca.tag}-b`;
const port = await freePort("127.0.0.1");
const base = `http://127.0.0.1:${port}`;

let serve: ServeProcess | null = null;
const serveLog = (): string => serve?.log() ?? "";

t.teardown(async () => {
  await serve?.kill();
  await removeOwnCa(ca, [A, B]);
});

const cli = (args: string[]): Promise<CliRun> => runCli(args, { env: ca.env, timeoutMs: 300_000 });

interface CaRotationJson {
  id: string;
  kind: string;
  phase: string;
  next: string;
  history: { phase: string }[];
  fingerprints: { oldIntermediate: string; newIntermediate: string };
  progress?: { total: number; onCurrentBundle: number; onNewIntermediate: number; pending: string[] };
}
interface CaJson {
  certificates: { role: string; fingerprint: string }[];
  rotation?: CaRotationJson;
}

async function getCa(): Promise<CaJson> {
  const r = await fetch(`${base}/v1/ca`);
  if (r.status !== 200) throw new Error(`GET /v1/ca: ${r.status} ${await r.text()}`);
  return (await r.json()) as CaJson;
}

/** serve's audit lines for finished CA rotation steps, in order. */
function stepLines(): { step?: string; phase?: string; trigger?: string; rotation?: string }[] {
  return serveLog()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return JSON.parse(l) as { msg?: string; component?: string; step?: string; phase?: string; trigger?: string; rotation?: string };
      } catch {
        return {};
      }
    })
    .filter((l) => l.msg === "CA rotation step finished" && l.component === "audit");
}

t.test("setup: own CA with a 1-hour intermediate, two services on generation 1", async (t) => {
  const init = await cli(["init", "--trust-domain", "serve-rotate-ca.test", "--intermediate-ttl", "1h", "--kek-file", ca.env.SWARM_MTLS_KEK_FILE as string]);
  t.equal(init.code, 0, `init exits 0${init.code === 0 ? "" : `: ${init.stderr}`}`);
  for (const s of [A, B]) await docker("service", "create", "-d", "--name", s, "--label", `${ca.tag}.enable=true`, ...FAST, TEST_IMAGE, "sleep", "3600");
  const r = await cli(["--json", "rotate", "--all"]);
  t.equal(r.code, 0, `first rotation: ${r.stderr}`);
  t.same(await crtGenerations(A), [1]);
  t.same(await crtGenerations(B), [1]);
  await bothWays(t, A, B, "before serve starts");
});

t.test("serve rotates the due intermediate by itself, phase by phase; GET /v1/ca shows the progress", async (t) => {
  const oldIntermediate = (JSON.parse((await cli(["--json", "ca", "show"])).stdout) as { certificates: { role: string; fingerprint: string }[] }).certificates.find((c) => c.role === "intermediate")?.fingerprint;
  t.ok(oldIntermediate, "the intermediate before serve starts");
  serve = spawnServe(["--listen", `127.0.0.1:${port}`, "--no-tls"], {
      ...ca.env,
      SWARM_MTLS_CA_ROTATE_BEFORE: "0.99",
      SWARM_MTLS_CA_INTERMEDIATE_TTL: "1y",
      SWARM_MTLS_SCHEDULE_CRON: "*/5 * * * * *",
      SWARM_MTLS_LOG_LEVEL: "info",
    });
  const proc = serve;
  const child = proc.child;

  // Watch GET /v1/ca until the rotation is complete; check the handshakes whenever a new phase shows up (a failed
  // handshake check fails the test: it is not retried like a GET that did not answer yet).
  const seen: CaRotationJson[] = [];
  const deadline = Date.now() + 600_000;
  let final: CaJson | undefined;
  while (!final) {
    assertServeRuns(proc);
    if (Date.now() > deadline) throw new Error(`serve did not complete a CA rotation within 600s (phases seen: ${seen.map((x) => x.phase).join(", ")}); log tail: ${serveLog().slice(-2000)}`);
    const body = await getCa().catch(() => undefined);
    const r = body?.rotation;
    if (body && r && seen[seen.length - 1]?.phase !== r.phase) {
      seen.push(r);
      await bothWays(t, A, B, `serve's rotation at phase ${r.phase} (GET /v1/ca)`);
    }
    if (body && r?.phase === "complete") final = body;
    else await new Promise((res) => setTimeout(res, 250));
  }

  const r = final.rotation as CaRotationJson;
  t.match(r, { kind: "intermediate", phase: "complete", next: "complete", fingerprints: { oldIntermediate } }, "GET /v1/ca: an intermediate rotation of the intermediate serve found due, complete");
  t.same(r.history.map((h) => h.phase), ["prepared", "trusted", "issued", "complete"], "GET /v1/ca: the rotation went through every phase in order");
  t.match(r.progress, { total: 2, onNewIntermediate: 2, onCurrentBundle: 2, pending: [] }, "GET /v1/ca: 2/2 services on the new intermediate and bundle");
  t.equal(final.certificates.find((c) => c.role === "intermediate")?.fingerprint, r.fingerprints.newIntermediate, "GET /v1/ca: the intermediate now in use is the new one");
  const inProgress = seen.filter((x) => x.phase !== "complete");
  t.ok(inProgress.length > 0, `GET /v1/ca showed the rotation in progress (phases seen: ${seen.map((x) => x.phase).join(", ")})`);
  for (const x of inProgress) {
    t.match(x, { kind: "intermediate", id: r.id, progress: { total: 2 } }, `GET /v1/ca at phase ${x.phase}: services done / total`);
    t.ok(x.next !== "complete" && x.progress !== undefined && x.progress.onNewIntermediate <= 2, `GET /v1/ca at phase ${x.phase}: next ${x.next}, ${x.progress?.onNewIntermediate}/2 on the new intermediate`);
  }

  // serve advanced the rotation itself, one phase per reconcile.
  const steps = stepLines();
  t.same(steps.map((l) => [l.step, l.phase]), [["prepare", "prepared"], ["trust", "trusted"], ["issue", "issued"], ["retire", "complete"]], `serve logged one finished step per reconcile, in order (triggers: ${steps.map((l) => l.trigger).join(", ")})`);
  t.ok(steps.every((l) => l.rotation === r.id), "every step is of this one rotation");

  await bothWays(t, A, B, "after serve's rotation");
  t.same(await crtGenerations(A), [1, 2], "A: exactly one new generation (nothing issued twice)");
  t.same(await crtGenerations(B), [1, 2], "B: exactly one new generation");
  await noOrphans(t, ca, [A, B], "after serve's rotation");
  const status = JSON.parse((await cli(["--json", "status"])).stdout) as { caRotation: CaRotationJson };
  t.match(status.caRotation, { id: r.id, phase: "complete" }, "status shows the same rotation");

  // The new intermediate (1 year) is not due: a few more reconciles start no second rotation.
  const reconciles = (serveLog().match(/"reconcile done"/g) ?? []).length;
  await until("two more reconciles of serve", 120_000, async () => ((serveLog().match(/"reconcile done"/g) ?? []).length >= reconciles + 2 ? true : undefined));
  const after = await getCa();
  t.match(after.rotation, { id: r.id, phase: "complete" }, "no second rotation started: the new intermediate is not due");
  t.equal(stepLines().length, 4, "no further CA rotation step");
});

t.test("SIGTERM: serve exits 0", async (t) => {
  const child = (serve as ServeProcess).child;
  child.kill("SIGTERM");
  const end = await (serve as ServeProcess).exited;
  t.same(end, { code: 0, signal: null }, `serve exits 0 on SIGTERM (log tail: ${serveLog().slice(-1500)})`);
});

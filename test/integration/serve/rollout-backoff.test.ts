/**
 * serve's backoff after a failed rollout, on the real sandbox swarm: a service whose tasks exit as soon as they are
 * given a certificate is rolled back, and serve then leaves it alone while its schedule and the rollback's own Docker
 * events keep reconciling (no new certificate, no new task). The operator sees why and until when in
 * GET /v1/services, /metrics, the log and `rotate --dry-run --server`; `--force` retries at once; a change of the
 * service by the operator retries too, and the rollout that succeeds forgets the backoff. The docker CLI is the
 * oracle for services and secrets.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { runCli, swarmTestEnv } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { docker, FAST, freePort, removeTestServices, requireSwarmCli, runningContainer, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

await requireSwarmCli();
const world = swarmTestEnv();
const leaseName = world.env.SWARM_MTLS_ROTATION_LEASE_NAME as string;
const svc = `bo-${world.tag}-${randomBytes(2).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "backoff-test-"));
const tokenFile = join(dir, "admin-token");
const token = randomBytes(24).toString("hex");
writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
const port = await freePort("127.0.0.1");
const base = `http://127.0.0.1:${port}`;

let serve: ServeProcess | null = null;
t.teardown(async () => {
  await serve?.kill();
  await removeTestServices([svc], leaseName);
  rmSync(dir, { recursive: true, force: true });
});

/** A workload that refuses any certificate (exit 3 when one is mounted) until the operator sets ACCEPT. */
const REFUSING = ["sh", "-c", `if [ -e /run/secrets/tls.crt ] && [ -z "$ACCEPT" ]; then echo 'certificate rejected' >&2; exit 3; fi; exec sleep 3600`];

interface Row {
  identity: string;
  generation: number;
  state: string;
  reason?: string;
  retryAt?: string;
}
const log = (): string => serve?.log() ?? "";
const count = (text: string, re: RegExp): number => text.match(new RegExp(re.source, "g"))?.length ?? 0;
const reconciles = (text: string): number => count(text, /"msg":"reconcile done"/);
async function get(path: string): Promise<string> {
  const r = await fetch(`${base}${path}`);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return r.text();
}
/** Certificates serve has issued (all of them for this test's one service: its own label prefix). */
async function issued(): Promise<number> {
  return [...(await get("/metrics")).matchAll(/^swarm_mtls_certificates_issued_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}
const row = async (): Promise<Row | undefined> => (JSON.parse(await get("/v1/services")) as { services: Row[] }).services.find((s) => s.identity === svc);
const retryGauge = async (): Promise<number | null> => {
  const m = new RegExp(`^swarm_mtls_rollout_retry_timestamp_seconds\\{name="${svc}"\\} (\\S+)$`, "m").exec(await get("/metrics"));
  return m ? Number(m[1]) : null;
};
async function mySecrets(): Promise<string[]> {
  return (await docker("secret", "ls", "--format", "{{.Name}}", "--filter", `label=io.swarm-mtls.identity=${svc}`)).split("\n").filter(Boolean).sort();
}
async function mountedSecrets(): Promise<string[]> {
  const [s] = JSON.parse(await docker("service", "inspect", svc)) as { Spec: { TaskTemplate: { ContainerSpec: { Secrets?: { SecretName: string }[] } } } }[];
  return (s?.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).map((x) => x.SecretName).sort();
}
async function apiRotate(force: boolean): Promise<{ status: number; body: { outcomes: { action: string; error?: string }[] } }> {
  const r = await fetch(`${base}/v1/services/${svc}/rotate`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ force }) });
  return { status: r.status, body: (await r.json()) as { outcomes: { action: string; error?: string }[] } };
}

t.test("a failed rollout is not retried by the following reconciles", async (t) => {
  // A reconcile every 2 seconds, so that many of them fall inside the backoff; a backoff far longer than the test.
  serve = spawnServe(["--listen", `127.0.0.1:${port}`, "--no-tls", "--admin-token-file", tokenFile], {
    ...world.env,
    SWARM_MTLS_SCHEDULE_CRON: "*/2 * * * * *",
    SWARM_MTLS_ROTATION_RETRY_BACKOFF: "1h",
    SWARM_MTLS_ROTATION_RETRY_BACKOFF_MAX: "4h",
  });
  const proc = serve;
  await until("GET /healthz to answer", 60_000, async () => {
    assertServeRuns(proc);
    return fetch(`${base}/healthz`).then((r) => (r.ok ? true : undefined), () => undefined);
  });

  await docker("service", "create", "-d", "--name", svc, "--label", `${world.prefix}enable=true`, ...FAST, "--restart-delay", "1s", TEST_IMAGE, ...REFUSING);
  await until("serve to roll the service out, see it fail and back off", 180_000, async () => {
    assertServeRuns(proc);
    return /"msg":"rollout failed: not retried before the backoff ends/.test(log()) ? true : undefined;
  });
  const failedAt = log().length;
  t.equal(await issued(), 1, "one certificate was issued for the failed rollout");
  t.same(await mySecrets(), [], "docker secret ls: the rolled-back generation's secrets are gone");
  t.same(await mountedSecrets(), [], "docker service inspect: the service is back on its spec without certificates");

  // Let at least 10 reconciles run (schedule and the rollback's events) after the failure.
  await until("10 reconciles after the failure", 120_000, async () => {
    assertServeRuns(proc);
    return reconciles(log().slice(failedAt)) >= 10 ? true : undefined;
  });
  const after = log().slice(failedAt);
  t.equal(await issued(), 1, `no certificate issued by the ${reconciles(after)} reconciles since`);
  t.equal(count(after, /"msg":"certificate issued"/), 0, "the log shows no issue either");
  t.same(await mySecrets(), [], "docker secret ls: still none");
  t.match(after, new RegExp(`"service":"${svc}","error":"held back: not retried before \\S+ \\(in \\S+\\): its last rollout failed once \\(rolled back: [^"]+\\); change the service or rotate it with --force to retry now"`), "each reconcile says why it leaves the service alone");
});

t.test("the operator sees the backoff in GET /v1/services, /metrics and rotate --dry-run", async (t) => {
  const r = await row();
  t.match(r, { identity: svc, state: "missing", reason: /^held back: not retried before .*its last rollout failed once \(rolled back: / }, "GET /v1/services: why the service has no certificate");
  const retryAt = Date.parse(r?.retryAt ?? "");
  t.ok(retryAt > Date.now() + 50 * 60_000, `retryAt is about an hour ahead (${r?.retryAt})`);
  t.equal(await retryGauge(), retryAt / 1000, "swarm_mtls_rollout_retry_timestamp_seconds{name} is that time");

  const plan = await runCli(["rotate", svc, "--dry-run", "--server", base, "--admin-token-file", tokenFile], { env: world.env });
  t.match(plan.stdout, new RegExp(`${svc}\\s+failed\\s+.*held back: not retried before`), `rotate --dry-run --server says it would be held back (${plan.stderr})`);
  t.equal(await issued(), 1, "the dry run issued nothing");
});

t.test("--force retries at once, and a second failure doubles the backoff", async (t) => {
  const forced = await apiRotate(true);
  t.equal(forced.status, 200, JSON.stringify(forced.body));
  t.match(forced.body.outcomes, [{ action: "failed", error: /^rolled back: / }], "the forced rollout ran and failed again");
  t.equal(await issued(), 2, "it issued one certificate");
  t.same(await mySecrets(), [], "docker secret ls: rolled back again, nothing left");
  const r = await row();
  t.match(r?.reason, /its last rollout failed 2 times in a row/, "GET /v1/services counts the failures");
  t.ok(Date.parse(r?.retryAt ?? "") > Date.now() + 110 * 60_000, `the backoff doubled to about 2h (${r?.retryAt})`);

  const plain = await apiRotate(false);
  t.match(plain.body.outcomes, [{ action: "failed", error: /^held back: / }], "an admin rotate without --force is held back too");
  t.equal(await issued(), 2, "and issues nothing");
});

t.test("a change of the service by the operator retries; the rollout that works forgets the backoff", async (t) => {
  const before = await issued();
  await docker("service", "update", "-d", "--env-add", "ACCEPT=1", svc);
  await until(`${svc} to run with generation 1 after the operator's change`, 180_000, async () => {
    assertServeRuns(serve as ServeProcess);
    const r = await row();
    return r?.state === "ok" && r.generation >= 1 ? r : undefined;
  });
  t.equal(await issued(), before + 1, "one certificate issued for the retry");
  const mounted = (await mountedSecrets()).filter((n) => !n.startsWith("mtls.bundle."));
  t.same(mounted, await mySecrets(), "docker service inspect: the service mounts the generation docker secret ls shows");
  t.equal(mounted.length, 2, "its certificate and key");
  const r = await row();
  t.notOk(r?.retryAt, "GET /v1/services: no retry time any more");
  t.notMatch(r?.reason ?? "", /held back/, "nor a held-back reason");
  // The series follow once the reconcile that rolled it out has re-read the fleet (a little after the row shows it).
  await until("the retry gauge to go", 60_000, async () => ((await retryGauge()) === null ? true : undefined));
  t.pass("swarm_mtls_rollout_retry_timestamp_seconds has no series for the service any more");
  const cid = await runningContainer(svc);
  t.match(await docker("exec", cid, "cat", "/run/secrets/tls.crt"), /-----BEGIN CERTIFICATE-----/, "the task runs with its certificate");
  t.notMatch(log(), /BEGIN [A-Z ]*PRIVATE KEY/, "no private key in serve's log");
});

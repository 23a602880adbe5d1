/**
 * `swarm-mtls serve` against the real sandbox swarm: a labelled service created AFTER serve started gets its
 * certificate without any rotate call (Docker events watcher), the HTTP API shows it, a stack-style redeploy that
 * drops the secrets is repaired at the same generation, an admin rotate over HTTP rolls generation 2, and SIGTERM
 * exits 0 and releases the lease. The docker CLI is the oracle for everything about services, secrets and configs.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { swarmTestEnv } from "../../helpers/cli.js";
import { docker, FAST, freePort, leaseFree, requireSwarmCli, runningContainer, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

const freeLocalPort = () => freePort("127.0.0.1");

interface SecretRef {
  SecretID: string;
  SecretName: string;
  File: { Name: string };
}
async function secretRefs(service: string): Promise<SecretRef[]> {
  const [s] = JSON.parse(await docker("service", "inspect", service)) as { Spec: { TaskTemplate: { ContainerSpec: { Secrets?: SecretRef[] } } } }[];
  return (s?.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).slice().sort((a, b) => a.File.Name.localeCompare(b.File.Name));
}
async function secretNamesOf(identity: string): Promise<string[]> {
  return (await docker("secret", "ls", "--format", "{{.Name}}", "--filter", `label=io.swarm-mtls.identity=${identity}`)).split("\n").filter(Boolean).sort();
}

// Fail loudly when there is no swarm or no shared test CA: never skip.
await requireSwarmCli();
const world = swarmTestEnv();
const leaseName = world.env.SWARM_MTLS_ROTATION_LEASE_NAME as string;

const svc = `srv-${world.tag}-api-${randomBytes(2).toString("hex")}`;
const svc2 = `srv-${world.tag}-late-${randomBytes(2).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "serve-test-"));
const tokenFile = join(dir, "admin-token");
const token = randomBytes(24).toString("hex");
writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
const port = await freeLocalPort();
const base = `http://127.0.0.1:${port}`;

let serve: ServeProcess | null = null;
const serveLog = (): string => serve?.log() ?? "";

t.teardown(async () => {
  await serve?.kill();
  for (const s of [svc, svc2]) await docker("service", "rm", s).catch(() => undefined);
  await until("the managed secrets of this test's services to be removed", 60_000, async () => {
    let left = 0;
    for (const s of [svc, svc2]) {
      for (const id of (await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${s}`)).split("\n").filter(Boolean)) {
        await docker("secret", "rm", id).catch(() => left++);
      }
    }
    return left === 0 ? true : undefined;
  }).catch(() => undefined);
  await docker("config", "rm", leaseName).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const r = await fetch(`${base}${path}`, { headers });
  return { status: r.status, text: await r.text() };
}

t.test("serve starts and answers /healthz and /readyz", async (t) => {
  serve = spawnServe(["--listen", `127.0.0.1:${port}`, "--no-tls", "--admin-token-file", tokenFile], { ...world.env, SWARM_MTLS_SCHEDULE_CRON: "*/5 * * * *" });
  const proc = serve;
  const child = proc.child;

  const health = await until("GET /healthz to answer", 60_000, async () => {
    assertServeRuns(proc);
    return get("/healthz");
  });
  t.equal(health.status, 200);
  t.same(JSON.parse(health.text), { status: "ok" });
  const ready = await get("/readyz");
  t.equal(ready.status, 200, ready.text);
  t.same(JSON.parse(ready.text), { ready: true });
});

t.test("a labelled service created after serve started gets its certificate without any rotate call", async (t) => {
  await docker("service", "create", "-d", "--name", svc, "--label", `${world.prefix}enable=true`, ...FAST, TEST_IMAGE, "sleep", "3600");
  const refs = await until(`${svc} to mount mtls.${svc}.crt.v1`, 60_000, async () => {
    const r = await secretRefs(svc);
    return r.some((x) => x.SecretName === `mtls.${svc}.crt.v1`) ? r : undefined;
  });
  t.same(
    refs.map((r) => [r.File.Name, r.SecretName.replace(/^mtls\.bundle\.v\d+$/, "mtls.bundle.vN")]),
    [["ca.crt", "mtls.bundle.vN"], ["tls.crt", `mtls.${svc}.crt.v1`], ["tls.key", `mtls.${svc}.key.v1`]],
    "docker service inspect: certificate, key and bundle are mounted",
  );
  t.same(await secretNamesOf(svc), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`], "docker secret ls: generation 1 only");
  const cid = await runningContainer(svc);
  t.match(await docker("exec", cid, "cat", "/run/secrets/tls.crt"), /-----BEGIN CERTIFICATE-----/, "the task reads its certificate");
});

t.test("the API shows the service, its expiry metric and the trust bundle", async (t) => {
  const list = await until(`GET /v1/services to list ${svc} at generation 1`, 60_000, async () => {
    const r = await get("/v1/services");
    const body = JSON.parse(r.text) as { services: { identity: string; service: string; generation: number; state: string }[] };
    const row = body.services.find((s) => s.identity === svc);
    return row && row.generation === 1 && row.state === "ok" ? body : undefined;
  });
  t.match(list.services.find((s) => s.identity === svc), { identity: svc, service: svc, generation: 1, state: "ok" });
  t.notOk(list.services.some((s) => !s.service.startsWith(`srv-${world.tag}-`)), "only this test's services (own label prefix) are listed");

  const one = await get(`/v1/services/${svc}`);
  t.equal(one.status, 200);
  t.match(JSON.parse(one.text), { identity: svc, generation: 1 });

  // The certificate series follow a change once its rollout has finished (the new task watched through its monitor
  // window), which can be a little after the service lists generation 1.
  const metrics = await until(`/metrics to carry ${svc}'s certificate`, 60_000, async () => {
    const r = await get("/metrics");
    return r.status === 200 && r.text.includes(`identity="${svc}"`) ? r : undefined;
  });
  t.equal(metrics.status, 200);
  const line = new RegExp(`^swarm_mtls_certificate_expiry_seconds\\{identity="${svc}"\\} (\\S+)$`, "m").exec(metrics.text);
  t.ok(line, `/metrics has swarm_mtls_certificate_expiry_seconds{identity="${svc}"}`);
  const left = Number(line?.[1]);
  t.ok(left > 23 * 3600 && left <= 24 * 3600, `seconds until expiry (${left}) is about the 24h TTL`);
  const expiration = new RegExp(`^swarm_mtls_certificate_expiration_timestamp_seconds\\{name="${svc}"\\} (\\S+)$`, "m").exec(metrics.text);
  t.equal(Number(expiration?.[1]) * 1000, Date.parse(JSON.parse(one.text).notAfter), "the expiration timestamp is the certificate's notAfter");
  t.match(metrics.text, `swarm_mtls_certificate_ready_status{name="${svc}",condition="True"} 1`);
  t.match(metrics.text, new RegExp(`^swarm_mtls_certificate_renewal_timestamp_seconds\\{name="${svc}"\\} \\d+`, "m"));

  const bundle = await get("/v1/bundle.pem");
  t.equal(bundle.status, 200);
  t.match(bundle.text, /^-----BEGIN CERTIFICATE-----/);
  const cid = await runningContainer(svc);
  t.equal(bundle.text.trim(), (await docker("exec", cid, "cat", "/run/secrets/ca.crt")).trim(), "GET /v1/bundle.pem is the ca.crt the task mounts");
  t.equal((await get("/readyz")).status, 200);
});

t.test("a redeploy that drops the secrets (as docker stack deploy does) is repaired at the same generation", async (t) => {
  // serve's first rollout may still be watching the new task (monitor window) although the refs are mounted: a
  // redeploy in that window is someone else changing the service mid-rollout, which rolls back. Redeploy after it.
  await until("serve's rollout to finish (lease released)", 60_000, async () => ((await leaseFree(leaseName)) ? true : undefined));
  const before = await secretRefs(svc);
  t.equal(before.length, 3);
  await docker("service", "update", "-d", ...before.flatMap((r) => ["--secret-rm", r.SecretName]), svc);

  const after = await until(`serve to re-attach the secrets of ${svc}`, 60_000, async () => {
    const r = await secretRefs(svc);
    return r.length === 3 ? r : undefined;
  });
  t.same(
    after.map((r) => [r.File.Name, r.SecretID]),
    before.map((r) => [r.File.Name, r.SecretID]),
    "the same secrets (same ids) are mounted again under the same files",
  );
  t.same(await secretNamesOf(svc), [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`], "docker secret ls: no v2 was issued");
  // serve may re-attach before this test looks again (it reacts to the update event): the previous spec shows ours.
  const [inspected] = JSON.parse(await docker("service", "inspect", svc)) as { PreviousSpec?: { TaskTemplate: { ContainerSpec: { Secrets?: unknown[] } } } }[];
  t.same(inspected?.PreviousSpec?.TaskTemplate.ContainerSpec.Secrets ?? [], [], "docker service inspect: the spec before serve's repair had no secrets");
  await runningContainer(svc);
});

t.test("POST /v1/services/:identity/rotate: 401 without the token, a new generation with it", async (t) => {
  const refsBefore = await secretRefs(svc);
  const namesBefore = await secretNamesOf(svc);
  const denied = await fetch(`${base}/v1/services/${svc}/rotate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ force: true }) });
  t.equal(denied.status, 401);
  t.match(await denied.json(), { error: { code: "unauthorized" } });
  const wrong = await fetch(`${base}/v1/services/${svc}/rotate`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${randomBytes(24).toString("hex")}` },
    body: JSON.stringify({ force: true }),
  });
  t.equal(wrong.status, 401, "a wrong token is refused too");
  t.same(await secretRefs(svc), refsBefore, "docker service inspect: nothing changed");
  t.same(await secretNamesOf(svc), namesBefore, "docker secret ls: nothing created");

  // serve's own reconciles (events of this very service) may be running: the API call waits for them, never 409.
  const accepted = await fetch(`${base}/v1/services/${svc}/rotate`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ force: true }),
  });
  const res = { status: accepted.status, body: (await accepted.json()) as unknown };
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.match(res.body, { outcomes: [{ identity: svc, service: svc, action: "rotated", reason: "forced", generationBefore: 1, generationAfter: 2 }] });
  const refs = await secretRefs(svc);
  t.same(
    refs.filter((r) => r.File.Name !== "ca.crt").map((r) => [r.File.Name, r.SecretName]),
    [["tls.crt", `mtls.${svc}.crt.v2`], ["tls.key", `mtls.${svc}.key.v2`]],
    "docker service inspect: generation 2 is mounted",
  );
  const cid = await runningContainer(svc);
  t.match(await docker("exec", cid, "cat", "/run/secrets/tls.crt"), /-----BEGIN CERTIFICATE-----/);
  const row = JSON.parse((await get(`/v1/services/${svc}`)).text) as { generation: number };
  t.equal(row.generation, 2, "GET /v1/services/:identity shows generation 2");
});

t.test("a service created while an admin rotate runs still gets its certificate from its Docker event", async (t) => {
  // The event's reconcile comes while the API's rotation holds the lease: it must wait for it, not be dropped until
  // the next scheduled run (every 5 minutes here).
  const rotating = fetch(`${base}/v1/services/${svc}/rotate`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ force: true }),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown }));
  await docker("service", "create", "-d", "--name", svc2, "--label", `${world.prefix}enable=true`, ...FAST, TEST_IMAGE, "sleep", "3600");
  const res = await rotating;
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.match(res.body, { outcomes: [{ identity: svc, action: "rotated", generationBefore: 2, generationAfter: 3 }] });
  await until(`${svc2} to mount mtls.${svc2}.crt.v1`, 60_000, async () => ((await secretRefs(svc2)).some((x) => x.SecretName === `mtls.${svc2}.crt.v1`) ? true : undefined));
  t.same(await secretNamesOf(svc2), [`mtls.${svc2}.crt.v1`, `mtls.${svc2}.key.v1`], "docker secret ls: the new service has generation 1");
  await runningContainer(svc2);
});

t.test("SIGTERM: serve exits 0 and releases the lease", async (t) => {
  const child = (serve as ServeProcess).child;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const end = await (serve as ServeProcess).exited;
  clearTimeout(timer);
  t.same(end, { code: 0, signal: null }, `serve exits 0 on SIGTERM (log tail: ${serveLog().slice(-1500)})`);
  t.ok(await leaseFree(leaseName), `docker config inspect: the lease ${leaseName} has no holder`);
  t.notMatch(serveLog(), /BEGIN [A-Z ]*PRIVATE KEY/, "no private key in serve's log");
});

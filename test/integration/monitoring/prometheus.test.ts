/**
 * The shipped alert rules and Grafana dashboard against a real Prometheus server (Debian's `prometheus`, loopback,
 * temp dir, 1 s scrape and evaluation) scraping a real `serve` (embedded mode: the same metrics as swarm mode).
 * One identity gets a certificate made to expire soon (5 minutes, due for renewal at once) and serve never renews
 * it (its schedule never fires): SwarmMtlsCertificateExpiringWithoutRenewal must fire for it and only for it. Then
 * every query of config/grafana/swarm-mtls.json must return data, as a Grafana panel would show it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { REPO } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe } from "../../helpers/serve-process.js";
import { freePort, until } from "../../helpers/swarm-test.js";

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Every PromQL expression of a Grafana dashboard, with its panel title. */
function dashboardQueries(file: string): { panel: string; expr: string }[] {
  const d = JSON.parse(readFileSync(file, "utf8")) as { panels: { title: string; targets?: { expr?: string }[] }[] };
  return d.panels.flatMap((p) => (p.targets ?? []).flatMap((x) => (x.expr ? [{ panel: p.title, expr: x.expr }] : [])));
}

function startPrometheus(dir: string, port: number, target: string): { child: ChildProcess; log: () => string } {
  const config = join(dir, "prometheus.yml");
  writeFileSync(config, [
    "global: { scrape_interval: 1s, evaluation_interval: 1s }",
    `rule_files: [${JSON.stringify(join(REPO, "config/prometheus/alerts.yml"))}]`,
    "scrape_configs:",
    "  - job_name: swarm-mtls",
    `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
    "",
  ].join("\n"));
  const child = spawn("prometheus", [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "tsdb")}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.on("error", (e) => (log += `could not start prometheus (${e.message}): install Debian's prometheus package (scripts/test.sh does)\n`));
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  return { child, log: () => log };
}

t.test("Prometheus scrapes serve, fires the expiring-certificate alert, and every dashboard query returns data", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
  const token = randomBytes(24).toString("hex");
  writeFileSync(join(dir, "admin-token"), `${token}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "config.yaml"), [
    "leaf: { renewBefore: 0.99, jitter: 0 }",
    "identities:",
    "  - name: expiring",
    "    dns: [expiring.local]",
    "    ttl: 5m",
    "  - name: steady",
    "    dns: [steady.local]",
    "",
  ].join("\n"));
  const servePort = await freePort("127.0.0.1");
  const serve = spawnServe(["--config", join(dir, "config.yaml"), "--store", `file:${join(dir, "data")}`, "--no-tls", "--listen", `127.0.0.1:${servePort}`, "--admin-token-file", join(dir, "admin-token")], {
    SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *",
  });
  let prometheus: ReturnType<typeof startPrometheus> | null = null;
  t.teardown(async () => {
    if (prometheus && prometheus.child.exitCode === null) {
      prometheus.child.kill("SIGKILL");
      await new Promise((done) => prometheus?.child.once("close", done));
    }
    await serve.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const api = `http://127.0.0.1:${servePort}`;
  await until("both identities issued", 120_000, async () => {
    assertServeRuns(serve);
    const r = (await (await fetch(`${api}/v1/services`)).json()) as { services: { generation: number }[] };
    return r.services.length === 2 && r.services.every((s) => s.generation === 1) ? true : undefined;
  });

  const promPort = await freePort("127.0.0.1");
  prometheus = startPrometheus(dir, promPort, `127.0.0.1:${servePort}`);
  const prom = prometheus;
  const query = async (expr: string): Promise<PromSample[]> => {
    if (prom.child.exitCode !== null) throw new Error(`prometheus exited: ${prom.log().slice(-2000)}`);
    const r = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; error?: string; data?: { result: PromSample[] } };
    if (r.status !== "success") throw new Error(`query ${expr}: ${r.error}`);
    return r.data?.result ?? [];
  };
  await until("Prometheus scrapes serve (up == 1)", 120_000, async () => ((await query('up{job="swarm-mtls"} == 1').catch(() => [])).length ? true : undefined));
  t.pass("Prometheus scrapes serve's /metrics");

  // A rotation after the first scrapes, so the rate and increase panels see counters move.
  await until("a scrape has the rotation counters", 60_000, async () => ((await query("swarm_mtls_rotations_total")).length ? true : undefined));
  await until("two scrapes of the rotation counters", 60_000, async () => ((await query("count_over_time(swarm_mtls_rotations_total[1m]) >= 2")).length ? true : undefined));
  const rotated = await fetch(`${api}/v1/services/steady/rotate`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ force: true }) });
  t.equal(rotated.status, 200, "steady rotated over the API");

  const firing = await until(`SwarmMtlsCertificateExpiringWithoutRenewal fires (prometheus log: ${prom.log().slice(-500)})`, 400_000, async () => {
    const r = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
    const mine = r.data.alerts.filter((a) => a.labels.alertname === "SwarmMtlsCertificateExpiringWithoutRenewal" && a.state === "firing");
    return mine.length ? mine : undefined;
  }, 1000);
  t.same(firing.map((a) => [a.labels.name, a.labels.severity]), [["expiring", "critical"]], "it fires for the certificate made to expire, not for the steady one");
  const left = await query('swarm_mtls_certificate_expiration_timestamp_seconds{name="expiring"} - time()');
  t.ok(Number(left[0]?.value[1]) > 0, "it fired before the certificate expired");

  // The alert took minutes: the rotation (scraped before and after) is inside the panels' 1 h windows.
  t.ok((await query('increase(swarm_mtls_rotations_total{result="rotated"}[1h]) > 0')).length, "Prometheus saw the rotation counter move");
  const queries = dashboardQueries(join(REPO, "config/grafana/swarm-mtls.json"));
  t.ok(queries.length >= 10, `the dashboard has ${queries.length} queries`);
  for (const q of queries) {
    const result = await query(q.expr);
    t.ok(result.length > 0, `panel "${q.panel}" has data: ${q.expr}`);
    const bad = result.filter((s) => !Number.isFinite(Number(s.value[1])));
    t.same(bad, [], `panel "${q.panel}" shows numbers`);
  }
  const ready = await query('swarm_mtls_certificate_ready_status{condition="True"} == 1');
  t.same(ready.map((s) => s.metric.name).sort(), ["expiring", "steady"], "both certificates are still Ready (valid) while the alert fires");
});

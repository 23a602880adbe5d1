import { Writable } from "node:stream";
import t from "tap";
import { auditExitCode, nextScheduledCheck, printAudit, readAuditFormat, runAudit, showAudit, type AuditReport } from "../../../src/cli/audit.js";
import type { CliContext } from "../../../src/cli/context.js";
import { systemClock } from "../../../src/clock.js";
import type { Swarm } from "../../../src/swarm/swarm.js";
import { capturedInventory } from "../../fixtures/audit/load-audit-fixture.js";

/** A CLI context whose swarm answers from the captured fixture. */
function context(env: Record<string, string> = {}): CliContext {
  const inv = capturedInventory();
  const swarm: Partial<Swarm> = {
    info: async () => ({ engineVersion: "20.10", apiVersion: "1.41", swarmActive: true, isManager: true, nodes: 1 }),
    listServices: async () => inv.services,
    listSecrets: async () => inv.secrets,
    listNetworks: async () => inv.networks,
  };
  return {
    swarm: async () => swarm as Swarm,
    env,
    json: false,
    clock: systemClock,
    config: { labelPrefix: "audfx.", schedule: { cron: "*/5 * * * *", maintenanceWindow: "" } },
  } as unknown as CliContext;
}

function capture(): { out: Writable; text: () => string } {
  let buf = "";
  return { out: new Writable({ write: (c, _e, cb) => ((buf += c), cb()) }), text: () => buf };
}

t.test("runAudit returns the report; fails at the default --fail-on high", async (t) => {
  const r = await runAudit(context());
  t.equal(r.engine, "unix:///var/run/docker.sock");
  t.equal(r.failOn, "high");
  t.equal(r.failed, true);
  t.equal(auditExitCode(r), 1);
  t.same(r.counts, { info: 1, low: 3, medium: 5, high: 4, critical: 2 });
  t.equal(r.findings.length, 15);
  t.ok(new Date(r.nextCheckAt).getTime() > Date.now() - 1000);
});

t.test("--fail-on critical still fails (socket, SYS_ADMIN); --fail-on none never does", async (t) => {
  t.equal(auditExitCode(await runAudit(context(), { failOn: "critical" })), 1);
  const none = await runAudit(context(), { failOn: "none" });
  t.equal(none.failed, false);
  t.equal(auditExitCode(none), 0);
});

t.test("the engine we dialled comes from DOCKER_HOST", async (t) => {
  const r = await runAudit(context({ DOCKER_HOST: "tcp://10.9.9.9:2375" }));
  const f = r.findings.find((x) => x.object.kind === "engine");
  t.same(f && `${f.severity} ${f.id} ${f.object.name}`, "critical SOCK002 tcp://10.9.9.9:2375");
});

t.test("bad --fail-on and --format are bad input (exit 2), before Docker is asked", async (t) => {
  await t.rejects(runAudit(context(), { failOn: "severe" }), { code: "bad-input", message: "--fail-on: 'severe' is not one of info, low, medium, high, critical, none" });
  await t.rejects(runAudit(context(), { format: "xml" }), { code: "bad-input", message: "--format: 'xml' is not one of table, json, sarif" });
  t.equal(readAuditFormat({}, true), "json", "--json means json");
  t.equal(readAuditFormat({ format: "SARIF" }, true), "sarif", "--format wins over --json");
  t.equal(readAuditFormat({}, false), "table");
});

t.test("table view: severity, id, object, message, fix; and a summary line", async (t) => {
  const r = await runAudit(context());
  const text = showAudit(r);
  const lines = text.split("\n");
  t.match(lines[0], /^severity\s+id\s+object\s+message\s+fix$/);
  t.match(lines[1], /^critical\s+CAP001\s+service aud-agent\s+adds capability SYS_ADMIN\s+docker service update --cap-drop SYS_ADMIN aud-agent/);
  t.equal(lines.at(-1), "15 findings: 2 critical, 4 high, 5 medium, 3 low, 1 info — fails at --fail-on high");
  const clean: AuditReport = { ...r, findings: [], failed: false, counts: { info: 0, low: 0, medium: 0, high: 0, critical: 0 } };
  t.equal(showAudit(clean), "no findings on unix:///var/run/docker.sock");
});

t.test("printAudit: json is the report, sarif a SARIF log", async (t) => {
  const r = await runAudit(context());
  const j = capture();
  printAudit(r, "json", j.out);
  t.same(JSON.parse(j.text()), JSON.parse(JSON.stringify(r)));
  const s = capture();
  printAudit(r, "sarif", s.out);
  const log = JSON.parse(s.text()) as { version: string; runs: { results: unknown[] }[] };
  t.equal(log.version, "2.1.0");
  t.equal(log.runs[0]!.results.length, 15);
  const tb = capture();
  printAudit(r, "table", tb.out);
  t.match(tb.text(), /^severity/);
});

t.test("nextScheduledCheck: the cron's next run; 5 minutes when the expression says nothing usable", async (t) => {
  const now = new Date();
  const every5 = nextScheduledCheck("*/5 * * * *", now);
  t.ok(every5.getTime() > now.getTime() && every5.getTime() <= now.getTime() + 5 * 60_000);
  t.equal(every5.getUTCMinutes() % 5, 0);
  t.equal(nextScheduledCheck("not a cron", now).getTime(), now.getTime() + 5 * 60_000);
});

import t from "tap";
import { AUDIT_CHECKS, runAudit } from "../../../src/audit/run-audit.js";
import { SEVERITIES, severityRank } from "../../../src/audit/finding.js";
import { auditContext, capturedInventory } from "../../fixtures/audit/load-audit-fixture.js";

const line = (f: { severity: string; id: string; object: { kind: string; name: string } }) => `${f.severity} ${f.id} ${f.object.kind}/${f.object.name}`;

t.test("the captured shop: every finding an operator sees, worst first", async (t) => {
  const findings = runAudit(capturedInventory(), auditContext());
  t.same(findings.map(line), [
    "critical CAP001 service/aud-agent",
    "critical SOCK001 service/aud-agent",
    "high CAP001 service/aud-agent",
    "high ENC002 service/aud-api",
    "high SEC001 service/aud-postgres",
    "high SEG001 service/aud-postgres",
    "medium CAP001 service/aud-agent",
    "medium CAP003 service/aud-agent",
    "medium CAP004 service/aud-hostnet",
    "medium SEC003 service/aud-postgres",
    "medium SEG003 service/aud-postgres",
    "low ENC001 network/aud-back",
    "low ENC001 network/aud-front",
    "low ENC001 network/ingress",
    "info CRT003 service/aud-web",
  ]);
  for (let i = 1; i < findings.length; i++) {
    t.ok(severityRank(findings[i - 1]!.severity) >= severityRank(findings[i]!.severity), "sorted by severity");
  }
});

t.test("the clean service and the encrypted internal network have no finding", async (t) => {
  const findings = runAudit(capturedInventory(), auditContext());
  t.same(findings.filter((f) => f.object.name === "aud-clean" || f.object.name === "aud-secure"), []);
});

t.test("every finding names its object, says what is wrong and gives a fix; no secret value leaks", async (t) => {
  for (const f of runAudit(capturedInventory(), auditContext())) {
    t.ok(f.title.length > 0 && f.message.length > 0 && f.fix.length > 0, `${f.id} ${f.object.name} is complete`);
    t.ok(SEVERITIES.includes(f.severity));
    t.notMatch(`${f.message} ${f.fix}`, /not-shown/, "the env value of DB_PASSWORD never appears");
  }
});

t.test("checks have unique ids, titles and reasons", async (t) => {
  const ids = AUDIT_CHECKS.map((c) => c.id);
  t.equal(new Set(ids).size, ids.length);
  for (const c of AUDIT_CHECKS) {
    t.match(c.id, /^(SEG|ENC|SEC|SOCK|CAP|CRT)\d{3}$/);
    t.ok(c.title && c.why.length > 40, `${c.id} documented`);
  }
});

t.test("a subset of checks can be run", async (t) => {
  const only = AUDIT_CHECKS.filter((c) => c.id === "SOCK001");
  t.same(runAudit(capturedInventory(), auditContext(), only).map(line), ["critical SOCK001 service/aud-agent"]);
});

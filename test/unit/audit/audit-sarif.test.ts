import t from "tap";
import { auditSarif } from "../../../src/audit/audit-sarif.js";
import { AUDIT_CHECKS, runAudit } from "../../../src/audit/run-audit.js";
import { auditContext, capturedInventory } from "../../fixtures/audit/load-audit-fixture.js";

interface SarifLog {
  $schema: string;
  version: string;
  runs: {
    tool: { driver: { name: string; version: string; rules: { id: string; name: string; shortDescription: { text: string }; fullDescription: { text: string }; defaultConfiguration: { level: string }; properties: Record<string, unknown> }[] } };
    results: {
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations: { logicalLocations: { name: string; fullyQualifiedName: string; kind: string }[] }[];
      partialFingerprints: Record<string, string>;
      properties: { severity: string; fix: string; "security-severity": string };
    }[];
  }[];
}

const findings = runAudit(capturedInventory(), auditContext());
const log = JSON.parse(JSON.stringify(auditSarif(findings, { checks: AUDIT_CHECKS }))) as SarifLog;

t.test("SARIF 2.1.0 log: one run, every check a rule", async (t) => {
  t.equal(log.version, "2.1.0");
  t.equal(log.$schema, "https://json.schemastore.org/sarif-2.1.0.json");
  t.equal(log.runs.length, 1);
  const driver = log.runs[0]!.tool.driver;
  t.equal(driver.name, "swarm-mtls audit");
  t.same(driver.rules.map((r) => r.id), AUDIT_CHECKS.map((c) => c.id));
  const sock = driver.rules.find((r) => r.id === "SOCK001")!;
  t.equal(sock.name, "DockerSocketMountedIntoAService");
  t.equal(sock.defaultConfiguration.level, "error");
  t.equal(sock.properties["security-severity"], "9.5");
  t.match(sock.fullDescription.text, /root on the host/);
});

t.test("SARIF results: rule, level by severity, logical location, fix, stable fingerprints", async (t) => {
  const results = log.runs[0]!.results;
  t.equal(results.length, findings.length);
  const rules = log.runs[0]!.tool.driver.rules;
  for (const r of results) {
    t.equal(rules[r.ruleIndex]!.id, r.ruleId, "ruleIndex points at the rule");
    t.ok(["error", "warning", "note"].includes(r.level));
    t.equal(r.locations[0]!.logicalLocations.length, 1);
  }
  const seg = results.find((r) => r.ruleId === "SEG001")!;
  t.equal(seg.level, "error");
  t.same(seg.locations[0]!.logicalLocations[0], { name: "aud-postgres", fullyQualifiedName: "service/aud-postgres", kind: "resource" });
  t.match(seg.message.text, /^service aud-postgres: database-like service shares network aud-back .* Fix: docker network create/);
  t.match(seg.properties.fix, /^docker network create/);
  t.equal(results.find((r) => r.ruleId === "SEC003")!.level, "warning");
  t.equal(results.find((r) => r.ruleId === "CRT003")!.level, "note");
  const caps = results.filter((r) => r.ruleId === "CAP001").map((r) => r.partialFingerprints["swarmMtlsObject/v1"]);
  t.equal(new Set(caps).size, 3, "three findings of one rule on one object get distinct fingerprints");
  const again = JSON.parse(JSON.stringify(auditSarif(findings, { checks: AUDIT_CHECKS }))) as SarifLog;
  t.same(again.runs[0]!.results.map((r) => r.partialFingerprints), results.map((r) => r.partialFingerprints), "same input, same fingerprints");
});

t.test("no findings: an empty results array (not absent)", async (t) => {
  const empty = auditSarif([], { checks: AUDIT_CHECKS }) as unknown as SarifLog;
  t.same(empty.runs[0]!.results, []);
});

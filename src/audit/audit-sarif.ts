import type { AuditCheck, Finding, Severity } from "./finding.js";
import { VERSION } from "../version.js";

/** SARIF `level` of each severity. */
const LEVEL: Record<Severity, "error" | "warning" | "note"> = { critical: "error", high: "error", medium: "warning", low: "note", info: "note" };
/** `security-severity` (0–10, CVSS-like) that GitHub code scanning reads to rank security results. */
const SECURITY_SEVERITY: Record<Severity, string> = { critical: "9.5", high: "8.0", medium: "5.5", low: "3.0", info: "0.0" };

export interface AuditSarifParams {
  /** The rules to describe (every check, so rule indexes are stable). */
  checks: readonly AuditCheck[];
  /** swarm-mtls version; default the package version. */
  toolVersion?: string;
}

/**
 * The findings as a SARIF 2.1.0 log. Docker objects have no file, so each result carries a logical location
 * (`service/<name>`, `network/<name>`, …) and its fix in `properties.fix`. Pure.
 */
export function auditSarif(findings: Finding[], p: AuditSarifParams): Record<string, unknown> {
  const index = new Map(p.checks.map((c, i) => [c.id, i]));
  const seen = new Map<string, number>();
  /** Stable across runs: rule, object, and the finding's rank among that rule's findings on that object. */
  const fingerprint = (f: Finding): string => {
    const key = `${f.id}:${f.object.kind}/${f.object.name}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return `${key}#${n}`;
  };
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "swarm-mtls audit",
            version: p.toolVersion ?? VERSION,
            informationUri: "https://github.com/swarm-mtls/swarm-mtls",
            rules: p.checks.map((c) => ({
              id: c.id,
              name: c.title.replace(/(^|[^A-Za-z0-9]+)([A-Za-z0-9])/g, (_m, _sep, ch: string) => ch.toUpperCase()),
              shortDescription: { text: c.title },
              fullDescription: { text: c.why },
              help: { text: `${c.why}${c.severities ? ` Severity: ${c.severities}.` : ""}` },
              defaultConfiguration: { level: LEVEL[c.severity] },
              properties: { tags: ["security", "docker-swarm"], "security-severity": SECURITY_SEVERITY[c.severity] },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.id,
          ...(index.has(f.id) ? { ruleIndex: index.get(f.id) } : {}),
          level: LEVEL[f.severity],
          message: { text: `${f.object.kind} ${f.object.name}: ${f.message}. Fix: ${f.fix}` },
          locations: [
            {
              logicalLocations: [{ name: f.object.name, fullyQualifiedName: `${f.object.kind}/${f.object.name}`, kind: "resource" }],
            },
          ],
          partialFingerprints: { "swarmMtlsObject/v1": fingerprint(f) },
          properties: { severity: f.severity, "security-severity": SECURITY_SEVERITY[f.severity], fix: f.fix, object: f.object },
        })),
      },
    ],
  };
}

import cron from "node-cron";
import { gatherAuditInventory } from "../audit/audit-inventory.js";
import { auditSarif } from "../audit/audit-sarif.js";
import { isSeverity, SEVERITIES, severityRank, type Finding, type Severity } from "../audit/finding.js";
import { AUDIT_CHECKS, runAudit as runAuditChecks } from "../audit/run-audit.js";
import { badInput } from "../errors.js";
import { dockerConnectionFromEnv } from "../swarm/docker-connection.js";
import type { CliContext } from "./context.js";
import { printResult, table } from "./output.js";

export const AUDIT_FORMATS = ["table", "json", "sarif"] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

export interface AuditOptions {
  /** `table` (default), `json` (same as --json) or `sarif`. */
  format?: string;
  /** Lowest severity that makes the command exit 1; `none` never does. Default `high`. */
  failOn?: string;
}

/** What `swarm-mtls audit` found; `--json` prints this. */
export interface AuditReport {
  /** The engine we inspected (its address). */
  engine: string;
  /** When the scheduler next checks certificates (from schedule.cron), which CRT001 compares against. */
  nextCheckAt: string;
  failOn: Severity | "none";
  /** A finding at or above `failOn` exists: the exit code is 1. */
  failed: boolean;
  counts: Record<Severity, number>;
  findings: Finding[];
}

/** Used when schedule.cron gives no next run. */
export const DEFAULT_CHECK_INTERVAL_MS = 5 * 60_000;

/** When `expression` next fires after now (node-cron computes from the wall clock); now + 5 min when it can't tell. */
export function nextScheduledCheck(expression: string, now: Date): Date {
  try {
    if (cron.validate(expression)) {
      const task = cron.createTask(expression, () => undefined);
      try {
        const next = task.getNextRuns(1)[0];
        if (next && next.getTime() > now.getTime()) return next;
      } finally {
        void task.destroy();
      }
    }
  } catch {
    /* fall through to the default interval */
  }
  return new Date(now.getTime() + DEFAULT_CHECK_INTERVAL_MS);
}

function readFailOn(v: string | undefined): Severity | "none" {
  const s = (v ?? "high").trim().toLowerCase();
  if (s === "none" || isSeverity(s)) return s;
  throw badInput(`--fail-on: '${v}' is not one of ${SEVERITIES.join(", ")}, none`);
}

export function readAuditFormat(o: AuditOptions, json: boolean): AuditFormat {
  const f = (o.format ?? (json ? "json" : "table")).trim().toLowerCase();
  if ((AUDIT_FORMATS as readonly string[]).includes(f)) return f as AuditFormat;
  throw badInput(`--format: '${o.format}' is not one of ${AUDIT_FORMATS.join(", ")}`);
}

/** Inspects the swarm and runs every check. Read-only. */
export async function runAudit(ctx: CliContext, o: AuditOptions = {}): Promise<AuditReport> {
  const failOn = readFailOn(o.failOn);
  readAuditFormat(o, ctx.json);
  const swarm = await ctx.swarm();
  const connection = dockerConnectionFromEnv(ctx.env);
  const inventory = await gatherAuditInventory(swarm, { connection });
  const now = ctx.clock();
  const nextCheckAt = nextScheduledCheck(ctx.config.schedule.cron, now);
  const findings = runAuditChecks(inventory, { now, nextCheckAt, labelPrefix: ctx.config.labelPrefix });
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<Severity, number>;
  const failed = failOn !== "none" && findings.some((f) => severityRank(f.severity) >= severityRank(failOn));
  return { engine: inventory.engine.address, nextCheckAt: nextCheckAt.toISOString(), failOn, failed, counts, findings };
}

export function showAudit(r: AuditReport): string {
  const summary = [...SEVERITIES]
    .reverse()
    .filter((s) => r.counts[s] > 0)
    .map((s) => `${r.counts[s]} ${s}`)
    .join(", ");
  const verdict = r.failOn === "none" ? "" : r.failed ? ` — fails at --fail-on ${r.failOn}` : ` — nothing at or above ${r.failOn}`;
  if (r.findings.length === 0) return `no findings on ${r.engine}`;
  const rows = r.findings.map((f) => [f.severity, f.id, `${f.object.kind} ${f.object.name}`, f.message, f.fix]);
  return [table(["severity", "id", "object", "message", "fix"], rows), "", `${r.findings.length} findings: ${summary}${verdict}`].join("\n");
}

/** 1 when a finding at or above --fail-on exists, else 0. */
export function auditExitCode(r: AuditReport): number {
  return r.failed ? 1 : 0;
}

/** Prints the report in the chosen format. */
export function printAudit(r: AuditReport, format: AuditFormat, out?: NodeJS.WritableStream): void {
  if (format === "sarif") printResult(auditSarif(r.findings, { checks: AUDIT_CHECKS }), { json: true, ...(out ? { out } : {}) }, () => "");
  else printResult(r, { json: format === "json", ...(out ? { out } : {}) }, showAudit);
}

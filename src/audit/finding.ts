import type { AuditContext, AuditInventory } from "./audit-inventory.js";

/** How bad a finding is, lowest first. */
export const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Orders severities: info 0 … critical 4. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function isSeverity(v: string): v is Severity {
  return (SEVERITIES as readonly string[]).includes(v);
}

/** The Docker object a finding is about. `engine` is the daemon we reached (its address as the name). */
export interface AuditObject {
  kind: "service" | "network" | "secret" | "engine";
  name: string;
}

/** One line of the audit: what is wrong with which object, and the command that fixes it. */
export interface Finding {
  /** Check id, e.g. `SEG001`. */
  id: string;
  severity: Severity;
  /** The check's title. */
  title: string;
  object: AuditObject;
  /** What was seen, naming objects and variable names (never a variable's or secret's value). */
  message: string;
  /** A command (or short instruction) that fixes it. */
  fix: string;
}

/** One named rule: a pure function of the inspected Docker objects. */
export interface AuditCheck {
  /** Stable id, e.g. `SEG001`; SARIF rule id. */
  id: string;
  /** One line, e.g. "database reachable from a service that publishes ports". */
  title: string;
  /** Severity of a typical finding (some findings are raised or lowered; see `severities`). */
  severity: Severity;
  /** When a finding's severity differs from `severity`, the rule in words (README); empty otherwise. */
  severities?: string;
  /** Why it matters, for operators (README, SARIF help). */
  why: string;
  run(inventory: AuditInventory, ctx: AuditContext): Finding[];
}

/** Builds a finding of `check` with its id and title. */
export function finding(check: Pick<AuditCheck, "id" | "title" | "severity">, f: { object: AuditObject; message: string; fix: string; severity?: Severity }): Finding {
  return { id: check.id, severity: f.severity ?? check.severity, title: check.title, object: f.object, message: f.message, fix: f.fix };
}

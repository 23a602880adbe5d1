/**
 * The audit trail: one JSON log line per issuance, rotation, re-attachment or CSR signing (and per refused or failed
 * attempt), with a fixed field set so that a log pipeline can select `audit = true` and read the same keys on every
 * line. Built by one pure function from explicit fields only: nothing else (in particular no key material) can reach
 * the record.
 */
import type { Logger } from "../log.js";

export type AuditEvent = "rotate" | "reattach" | "sign" | "sds-issue" | "renew";
export type AuditResult = "ok" | "failed" | "refused";

/** One audit line's fields (pino adds level, time, pid, hostname, component and msg). */
export interface AuditRecord {
  audit: true;
  /**
   * rotate = a new certificate issued and rolled out / written; reattach = an existing generation mounted again;
   * sign = a CSR signed; sds-issue = a working certificate issued for SDS; renew = a certificate renewed over POST /v1/renew.
   */
  event: AuditEvent;
  /** What started it: `start`, `schedule`, `event`, `cli`, `api`. */
  trigger: string;
  /** Who, when known: the API caller (`token` or the admin client identity); null for automatic and CLI runs. */
  actor: string | null;
  identity: string | null;
  /** Swarm service name (swarm mode), or the identity (embedded mode); null for CSR signing. */
  service: string | null;
  /** Serial of the certificate concerned, lower-case hex; null when none was issued. */
  serial: string | null;
  /** SHA-256 of the certificate's DER, lower-case hex; null when none was issued. */
  fingerprint: string | null;
  /** Certificate generation before and after; null where generations do not apply (CSR signing, nothing yet). */
  generation: { from: number | null; to: number | null };
  result: AuditResult;
  /** Why it failed or was refused (a safe message, never key material). */
  error?: string;
}

export interface AuditRecordParams {
  event: AuditEvent;
  /** The trigger as rotations carry it: `schedule`, `event`, `start`, `cli` or `api:<actor>`. */
  trigger: string;
  identity?: string | null;
  service?: string | null;
  serial?: string | null;
  fingerprint?: string | null;
  generationFrom?: number | null;
  generationTo?: number | null;
  result: AuditResult;
  error?: string | null;
}

/** Splits `api:<actor>` into trigger `api` and the actor; other triggers have no actor. */
export function splitTrigger(trigger: string): { trigger: string; actor: string | null } {
  const m = /^api:(.+)$/.exec(trigger);
  return m ? { trigger: "api", actor: m[1] as string } : { trigger: trigger || "unknown", actor: null };
}

const HEX = /^[0-9a-f]+$/;

/** Builds one audit record. Pure; every field is present (null when unknown) except `error`. */
export function auditRecord(p: AuditRecordParams): AuditRecord {
  const { trigger, actor } = splitTrigger(p.trigger);
  const hexOrNull = (v: string | null | undefined): string | null => {
    if (typeof v !== "string" || v === "") return null;
    const lower = v.toLowerCase().replace(/:/g, "");
    return HEX.test(lower) ? lower : null;
  };
  const record: AuditRecord = {
    audit: true,
    event: p.event,
    trigger,
    actor,
    identity: p.identity ?? null,
    service: p.service ?? null,
    serial: hexOrNull(p.serial),
    fingerprint: hexOrNull(p.fingerprint),
    generation: { from: p.generationFrom ?? null, to: p.generationTo ?? null },
    result: p.result,
  };
  if (p.error) record.error = p.error.length > 500 ? `${p.error.slice(0, 500)}…` : p.error;
  return record;
}

/** The log message of a record: `audit: rotate ok`. */
export function auditMessage(r: AuditRecord): string {
  return `audit: ${r.event} ${r.result}`;
}

/** Writes a record through `{component: "audit"}`: info when ok, warn when failed or refused. */
export function writeAudit(logger: Logger, r: AuditRecord): void {
  const audit = logger.child({ component: "audit" });
  if (r.result === "ok") audit.info(r, auditMessage(r));
  else audit.warn(r, auditMessage(r));
}

/**
 * One reconcile of `serve` (start, schedule, Docker event): rotate what the planner says, log each change with its
 * reason, set the expiry gauges from the fleet as it is afterwards, then advance a due CA rotation. Never throws.
 */
import type { Clock } from "../clock.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaSource } from "./ca-source.js";
import type { ServiceOutcome } from "./rollout.js";
import type { ServingMode } from "./serving-mode.js";
import type { ServiceStatus } from "./serving-types.js";
import { certificateMetricStates, type CertificateMetricState } from "./status-rows.js";
import { LeaseHeldError } from "./rotator.js";

export interface PlaneMetrics {
  certificatesIssued(alg: string): void;
  rotation(result: "rotated" | "reattached" | "failed" | "skipped", seconds?: number, identity?: string): void;
  setCertificate(identity: string, state: CertificateMetricState | null): void;
  setLeafExpiry(identity: string, notAfter: Date | null): void;
  /** Forget the expiry of every identity not listed (services gone, opted out, identities removed from config). */
  keepLeafExpiries(identities: readonly string[]): void;
  setCaExpiries(entries: { role: string; fingerprint: string; notAfter: Date }[]): void;
  reconcileFinished(result: "ok" | "failed" | "lease-held", at: Date): void;
}

/** How a reconcile ended, for whoever schedules the next one. */
export interface ReconcileResult {
  /**
   * Set when another rotator's lease refused (part of) the reconcile: that lease's expiry as read, null when unknown.
   * A crashed holder's lease is taken over once it expires, so the caller retries then instead of waiting for the
   * schedule.
   */
  leaseHeldUntil?: Date | null;
}

/** Runs work one at a time, in call order; a failure does not stop the next. */
export function oneAtATime(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const next = tail.then(work, work);
    tail = next.catch(() => undefined); // the caller gets the failure; the queue only waits for it
    return next;
  };
}

/**
 * Sets the certificate series from status rows. Every managed service (or configured identity) is in the rows: one
 * that is not (service removed, opted out) loses its series. Called after a change, never by a status read.
 */
export function observeRows(metrics: PlaneMetrics, rows: ServiceStatus[], now: Date): void {
  const states = certificateMetricStates(rows, now);
  for (const s of states) metrics.setCertificate(s.identity, s.state);
  metrics.keepLeafExpiries(states.map((s) => s.identity));
}

export interface ReconcileDeps {
  mode: ServingMode;
  ca: CaSource;
  exclusive: <T>(work: () => Promise<T>) => Promise<T>;
  metrics: PlaneMetrics;
  logger: Logger;
  now: Clock;
}

const changed = (o: ServiceOutcome): boolean => o.result === "rotated" || o.result === "reattached";

function logOutcomes(log: Logger, trigger: string, outcomes: ServiceOutcome[]): ServiceOutcome[] {
  const failed = outcomes.filter((o) => o.result === "failed" || o.result === "invalid");
  for (const o of failed) log.warn({ service: o.service, error: o.error }, "service not reconciled");
  for (const o of outcomes.filter(changed)) {
    log.info({ service: o.service, identity: o.identity, result: o.result, reason: o.reason, detail: o.detail, generation: { from: o.generationBefore, to: o.generationAfter } }, `${o.result} (${o.reason})`);
  }
  log.info({ trigger, services: outcomes.length, changed: outcomes.filter(changed).length, failed: failed.length }, "reconcile done");
  return failed;
}

/** The lease's expiry when `e` is another rotator's lease refusing us (undefined for any other error). */
function leaseHeldUntil(e: unknown): Date | null | undefined {
  if (!(e instanceof MtlsError) || e.code !== "lease-held") return undefined;
  return e instanceof LeaseHeldError ? e.heldUntil : null;
}

async function advanceCaRotation(d: ReconcileDeps, log: Logger, trigger: string, result: ReconcileResult): Promise<void> {
  let stepped = false;
  try {
    stepped = await d.exclusive(async () => d.mode.advanceCaRotation(await d.ca.current(), trigger));
  } catch (e) {
    stepped = true; // a step may have written the CA state before it failed
    const held = leaseHeldUntil(e);
    if (held !== undefined) {
      log.info({ trigger }, (e as Error).message);
      result.leaseHeldUntil = held;
    } else log.warn({ trigger, err: (e as Error).message }, "CA rotation step did not finish; retried on the next reconcile");
  }
  if (stepped) await d.ca.refresh().catch((e: unknown) => log.warn({ err: (e as Error).message }, "could not re-read the CA state after a CA rotation step"));
}

/** Re-reads the fleet after a change and sets the certificate series from it. */
export async function observeFleet(d: Pick<ReconcileDeps, "mode" | "ca" | "metrics" | "now">, log: Logger): Promise<void> {
  try {
    observeRows(d.metrics, await d.mode.rows(await d.ca.current()), d.now());
  } catch (e) {
    log.warn({ err: (e as Error).message }, "could not read the fleet for the certificate series");
  }
}

export async function reconcileOnce(d: ReconcileDeps, r: { trigger: string; services?: string[] }): Promise<ReconcileResult> {
  const log = d.logger.child({ component: "serve" });
  const result: ReconcileResult = {};
  try {
    const outcomes = await d.exclusive(async () => d.mode.rotate(await d.ca.refresh(), { ...(r.services ? { services: r.services } : {}), force: false, dryRun: false, trigger: r.trigger }));
    const failed = logOutcomes(log, r.trigger, outcomes);
    await observeFleet(d, log);
    d.metrics.reconcileFinished(failed.length === 0 ? "ok" : "failed", d.now());
    await advanceCaRotation(d, log, r.trigger, result);
  } catch (e) {
    const held = leaseHeldUntil(e);
    d.metrics.reconcileFinished(held !== undefined ? "lease-held" : "failed", d.now());
    if (held !== undefined) {
      log.info({ trigger: r.trigger }, (e as Error).message);
      result.leaseHeldUntil = held;
    } else log.error({ trigger: r.trigger, err: (e as Error).message }, "reconcile failed");
  }
  return result;
}

import { hostname } from "node:os";
import { secondsSince, type Clock } from "../clock.js";
import type { Authority } from "../ca/index.js";
import type { Config } from "../config/load-config.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ServiceRecord, Swarm } from "../swarm/swarm.js";
import { gatherFleet, type FleetEntry } from "./fleet.js";
import type { PlanReason } from "./plan.js";
import { auditRecord, writeAudit } from "./audit-record.js";
import { ensureBundle, pruneBundles, pruneGenerations } from "./managed-objects.js";
import { plannedOutcome, rollOne } from "./roll-service.js";
import { rolloutLanes } from "./rollout-cost.js";
import type { RolloutBackoffs } from "./rollout-backoff.js";

export { pruneBundles };

/** What happened to one service in a reconcile. */
export interface ServiceOutcome {
  service: string;
  identity: string | null;
  /** rotated = new certificate rolled out; reattached = existing generation/bundle mounted again; planned = dry run. */
  result: "rotated" | "reattached" | "up-to-date" | "planned" | "failed" | "invalid";
  reason: PlanReason | "invalid";
  detail: string;
  generationBefore: number | null;
  generationAfter: number | null;
  serial?: string;
  notAfter?: string;
  /** SHA-256 of the certificate rolled out (rotated or reattached), for the audit record. */
  fingerprint?: string;
  /** Said when the rollout was changed to stay safe (host ports with start-first → stop-first). */
  warnings: string[];
  error?: string;
  /** Milliseconds since the service's rollout started, per step. */
  timings?: { secretsCreated?: number; updateAccepted?: number; converged?: number };
}

export interface RotationReport {
  outcomes: ServiceOutcome[];
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  prunedSecrets: string[];
}

/** Progress of one service, for people watching a long run. */
export interface RolloutProgress {
  service: string;
  step: "issuing" | "updating" | "converging" | "rolling-back" | "done" | "failed";
  detail: string;
}

/** Hooks for metrics; all optional. */
export interface RotationObserver {
  issued?(keyAlgorithm: string): void;
  finished?(o: ServiceOutcome, seconds: number): void;
  progress?(p: RolloutProgress): void;
}

export interface RotationDeps {
  swarm: Swarm;
  authority: Authority;
  config: Config;
  logger: Logger;
  now: Clock;
  observer?: RotationObserver;
}

export interface RotateParams {
  /** Service names or ids; default every opted-in service. */
  services?: string[];
  force?: boolean;
  dryRun?: boolean;
  /** Services rolled at once; default config rotation.concurrency. */
  concurrency?: number;
  /** Upper bound per service, seconds; default config rotation.timeout. */
  timeoutSeconds?: number;
  /** Only the services with one of these identities (the API's rotate of one identity). */
  identities?: string[];
  /** Silently skip named services that are not opted in (Docker events name every service). Default false. */
  onlyOptedIn?: boolean;
  /** Who asked, for the audit trail: "cli", "schedule", "event", "api:<actor>". */
  trigger?: string;
  signal?: AbortSignal;
  /** serve's memory of failed rollouts: a service inside its backoff is not rolled (unless forced). */
  backoff?: RolloutBackoffs;
  /** Test hook: called after each step of a service's rollout (crash injection in reliability tests). */
  afterStep?: (step: "secrets-created" | "spec-updated" | "converging" | "converged", service: string) => Promise<void> | void;
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(runners);
}

/** Tells serve's backoff memory how a rollout ended; one stopped by a lost lease or serve's stop is nobody's failure. */
function rememberOutcome(p: RotateParams, service: ServiceRecord, o: ServiceOutcome, now: Date, log: Logger): void {
  if (!p.backoff || (o.result === "failed" && p.signal?.aborted)) return;
  if (o.result !== "failed") return p.backoff.succeeded(service);
  const retryAt = p.backoff.failed(service, o.error ?? "rollout failed", now);
  log.warn({ service: o.service, retryAt: retryAt.toISOString() }, "rollout failed: not retried before the backoff ends (unless forced or the service changes)");
}

/**
 * Reconciles services: gather → plan → for each service that needs it, issue (or reuse) a generation, swap the
 * secret references in one `service update`, wait until every task runs with them, roll back on failure, prune.
 * Runs under the lease unless it is a dry run.
 */
export async function rotate(deps: RotationDeps, p: RotateParams = {}): Promise<RotationReport> {
  const now = deps.now;
  const startedAt = now();
  const log = deps.logger.child({ component: "rollout" });
  const fleet = await gatherFleet(deps.swarm, deps.authority, deps.config, { services: p.services, force: p.force === true, now: startedAt, onlyOptedIn: p.onlyOptedIn, ...(p.identities ? { identities: p.identities } : {}) });
  const outcomes: ServiceOutcome[] = [];
  const pruned: string[] = [];

  for (const e of fleet.entries.filter((x) => !x.identity)) {
    outcomes.push({ service: e.service.name, identity: null, result: "invalid", reason: "invalid", detail: e.error ?? "invalid", generationBefore: null, generationAfter: null, warnings: [], error: e.error });
  }
  const work = fleet.entries.filter((e) => e.identity && e.verdict);
  // serve's backoff after a failed rollout: a held-back service is answered as the real run would (a dry run too).
  const heldBack = new Map(work.map((e) => [e, e.verdict?.action === "none" ? null : (p.backoff?.heldBack(e.service, startedAt, p.force === true) ?? null)]));
  const heldOutcome = (e: FleetEntry): ServiceOutcome => ({ ...plannedOutcome(e, false), result: "failed", error: `held back: ${heldBack.get(e)}` });
  if (p.dryRun) {
    for (const e of work) outcomes.push(heldBack.get(e) ? heldOutcome(e) : plannedOutcome(e, true));
    return { outcomes, dryRun: true, startedAt: startedAt.toISOString(), finishedAt: now().toISOString(), prunedSecrets: [] };
  }

  const wanting = work.filter((e) => e.verdict?.action !== "none");
  for (const e of wanting) if (heldBack.get(e)) outcomes.push(heldOutcome(e));
  const needsWork = wanting.filter((e) => heldBack.get(e) === null);
  for (const e of work.filter((x) => x.verdict?.action === "none")) {
    outcomes.push(plannedOutcome(e, false));
    // A run that died between its update and its prune left superseded generations: prune them now (under the lease).
    const attached = e.attached?.generation;
    const gens = e.identity ? fleet.secrets.byIdentity.get(e.identity.identity)?.crt.size ?? 0 : 0;
    if (e.identity && attached != null && gens > 1 + deps.config.rotation.keepPrevious) await pruneGenerations(deps.swarm, fleet, e.identity.identity, attached, deps.config.rotation.keepPrevious, log);
  }
  if (needsWork.length > 0) {
    const bundle = await ensureBundle(deps.swarm, fleet, deps.config.caStateName);
    const concurrency = p.concurrency ?? deps.config.rotation.concurrency;
    // Rollouts that restart tasks under the cap; spec-only ones (replicas: 0) in a wider lane beside them.
    const lanes = rolloutLanes(needsWork, (e) => e.service.spec, concurrency);
    const rollLane = (items: typeof needsWork, limit: number) => pool(items, limit, async (e) => {
      if (p.signal?.aborted) {
        // Lease lost or interrupted: start no further rollout (the ones in flight finish or stop on their own).
        const why = p.signal.reason instanceof Error ? p.signal.reason.message : "interrupted";
        outcomes.push({ ...plannedOutcome(e, false), result: "failed", error: `not started: ${why}` });
        return;
      }
      const t0 = now();
      const o = await rollOne(deps, fleet, e, bundle, p).catch((err: unknown): ServiceOutcome => {
        const message = err instanceof MtlsError ? err.message : `unexpected: ${(err as Error)?.message}`;
        return { ...plannedOutcome(e, false), result: "failed", error: message };
      });
      outcomes.push(o);
      rememberOutcome(p, e.service, o, now(), log);
      deps.observer?.finished?.(o, secondsSince(now, t0));
      deps.observer?.progress?.({ service: o.service, step: o.result === "failed" ? "failed" : "done", detail: o.error ?? o.detail });
      const done = o.result !== "failed";
      writeAudit(deps.logger, auditRecord({ event: o.result === "reattached" ? "reattach" : "rotate", trigger: p.trigger ?? "cli", identity: o.identity, service: o.service, serial: o.serial, fingerprint: o.fingerprint, generationFrom: o.generationBefore, generationTo: done ? o.generationAfter : o.generationBefore, result: done ? "ok" : "failed", error: o.error }));
    });
    await Promise.all(lanes.map((l) => rollLane(l.items, l.concurrency)));
    pruned.push(...(await pruneBundles(deps.swarm, deps.config.rotation.keepPrevious, fleet.bundle.secret?.id ?? null, deps.config.caStateName, log)));
  }
  log.debug({ services: outcomes.length }, "reconcile finished");
  const order = new Map(fleet.entries.map((e, i) => [e.service.name, i]));
  outcomes.sort((a, b) => (order.get(a.service) ?? 0) - (order.get(b.service) ?? 0));
  return { outcomes, dryRun: false, startedAt: startedAt.toISOString(), finishedAt: now().toISOString(), prunedSecrets: pruned };
}

/** Owner string for the lease: who holds it, for the "another rotation is running" message. */
export function leaseOwner(): string {
  return `${hostname()}:${process.pid}`;
}


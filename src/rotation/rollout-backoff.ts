/**
 * Backoff after a failed rollout. Without it every reconcile re-issued a certificate for a service whose rollout fails
 * (a task that crashes with the new files, an image that cannot start), and the rollback's own Docker events
 * triggered the next attempt 2 s later: a loop of new certificates and restarts. A service whose rollout failed is
 * not tried again before its retry time: 1 minute, doubling per failure up to 30 minutes. A success forgets it; so
 * does a change of the service by the operator (anything in its spec but the references this tool manages), and
 * `rotate --force` overrides it. The decisions are pure (the clock is a parameter); `serve` keeps the state in memory.
 */
import { createHash } from "node:crypto";
import { formatDuration } from "../config/duration.js";
import type { ServiceRecord } from "../swarm/swarm.js";

/** What is remembered about one service whose last rollout failed. */
export interface RolloutBackoff {
  /** Failed rollouts in a row for the same operator spec. */
  failures: number;
  /** No new attempt before this time (unless forced or the operator changed the service). */
  retryAt: Date;
  /** operatorSpecHash of the service when its rollout failed. */
  specHash: string;
  /** Why the last rollout failed. */
  error: string;
}

export interface BackoffPolicy {
  firstMs: number;
  maxMs: number;
}

export const ROLLOUT_BACKOFF: BackoffPolicy = { firstMs: 60_000, maxMs: 30 * 60_000 };

/** The policy of config rotation.retryBackoff / retryBackoffMax (a maximum below the first delay is the first delay). */
export function backoffPolicy(seconds: { retryBackoff: number; retryBackoffMax: number }): BackoffPolicy {
  return { firstMs: seconds.retryBackoff * 1000, maxMs: Math.max(seconds.retryBackoff, seconds.retryBackoffMax) * 1000 };
}

/**
 * The state after one more failed rollout: the delay doubles from `firstMs` while the operator spec stays the same,
 * up to `maxMs`; a changed spec starts again at `firstMs`. Pure.
 */
export function backoffAfterFailure(prev: RolloutBackoff | undefined, p: { now: Date; specHash: string; error: string }, policy: BackoffPolicy = ROLLOUT_BACKOFF): RolloutBackoff {
  const failures = prev && prev.specHash === p.specHash ? prev.failures + 1 : 1;
  const delayMs = Math.min(policy.firstMs * 2 ** Math.min(failures - 1, 30), policy.maxMs);
  return { failures, retryAt: new Date(p.now.getTime() + delayMs), specHash: p.specHash, error: p.error };
}

/**
 * Why a rollout must wait, or null when it may go ahead: nothing failed, the retry time has come, the operator
 * changed the service since, or the rotation is forced. Pure.
 */
export function rolloutHeldBack(b: RolloutBackoff | undefined, p: { now: Date; specHash: string; force: boolean }): string | null {
  if (!b || p.force || b.specHash !== p.specHash || p.now >= b.retryAt) return null;
  const wait = formatDuration(Math.ceil((b.retryAt.getTime() - p.now.getTime()) / 1000));
  return `not retried before ${b.retryAt.toISOString()} (in ${wait}): its last rollout failed ${b.failures === 1 ? "once" : `${b.failures} times in a row`} (${b.error}); change the service or rotate it with --force to retry now`;
}

/**
 * A hash of what the operator controls in a service's spec: everything but the secret and config references and
 * the update order, which a rollout of this tool changes (and its rollback restores). Pure.
 */
export function operatorSpecHash(service: Pick<ServiceRecord, "spec">): string {
  const spec = JSON.parse(JSON.stringify(service.spec ?? {})) as { TaskTemplate?: { ContainerSpec?: Record<string, unknown> }; UpdateConfig?: Record<string, unknown> };
  if (spec.TaskTemplate?.ContainerSpec) {
    delete spec.TaskTemplate.ContainerSpec.Secrets;
    delete spec.TaskTemplate.ContainerSpec.Configs;
  }
  if (spec.UpdateConfig) delete spec.UpdateConfig.Order;
  return createHash("sha256").update(canonical(spec)).digest("hex").slice(0, 16);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** serve's memory of failed rollouts, by service id: the thin stateful side of the decisions above. */
export interface RolloutBackoffs {
  /** Why this service's rollout waits now, or null. */
  heldBack(service: ServiceRecord, now: Date, force: boolean): string | null;
  /** The backoff this service is in now (for status and metrics), or undefined when it may be rolled. */
  current(service: ServiceRecord, now: Date): RolloutBackoff | undefined;
  /** Records a failed rollout; returns the new retry time. */
  failed(service: ServiceRecord, error: string, now: Date): Date;
  /** Forgets the service after a successful rollout. */
  succeeded(service: ServiceRecord): void;
}

export function rolloutBackoffs(policy: BackoffPolicy = ROLLOUT_BACKOFF): RolloutBackoffs {
  const byService = new Map<string, RolloutBackoff>();
  return {
    heldBack: (s, now, force) => rolloutHeldBack(byService.get(s.id), { now, specHash: operatorSpecHash(s), force }),
    current(s, now) {
      const b = byService.get(s.id);
      return b && rolloutHeldBack(b, { now, specHash: operatorSpecHash(s), force: false }) !== null ? b : undefined;
    },
    failed(s, error, now) {
      const next = backoffAfterFailure(byService.get(s.id), { now, specHash: operatorSpecHash(s), error }, policy);
      byService.set(s.id, next);
      return next.retryAt;
    },
    succeeded: (s) => void byService.delete(s.id),
  };
}

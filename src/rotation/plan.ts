import { formatDuration } from "../config/duration.js";
import { renewalTime } from "./renewal-time.js";

/** One issued generation of an identity, as its secrets' labels describe it. */
export interface GenerationInfo {
  generation: number;
  serial: string;
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  /** Fingerprint of the issuing intermediate. */
  issuer: string;
  profile: string;
  /** Both the certificate and the key secret exist. */
  complete: boolean;
}

/** What the planner knows about one service: gathered by the adapter, decided on here. */
export interface PlanInput {
  /** The settings hash the service wants now (labels). */
  profile: string;
  /** Generation whose certificate AND key are referenced by the service with the wanted targets, or null. */
  attached: number | null;
  /**
   * The service's trust bundle needs no update: it references the current one under the wanted target, or (SDS mode)
   * one that still verifies the CA's SDS listener (bootstrap-trust.ts trustBundleMustChange).
   */
  bundleCurrent: boolean;
  /** Secret references are exactly what the attached generation needs (targets, uid, gid, mode). */
  refsExact: boolean;
  /** The Envoy config attached is the one that would be rendered now (true when the service has no Envoy). */
  envoyCurrent: boolean;
  /** Every generation whose secrets exist for this identity. */
  generations: GenerationInfo[];
  /**
   * The service is in SDS mode: its certificate is the bootstrap tier, used only to authenticate to the CA's SDS
   * listener, so an issuer in `PlanParams.lastingIssuers` does not make it change (a restart saved).
   */
  sds?: boolean;
}

export interface PlanParams {
  now: Date;
  force: boolean;
  /** Fingerprint of the intermediate that issues now. */
  issuer: string;
  renewBefore: number;
  jitter: number;
  /**
   * Fingerprints of intermediates that no longer issue but whose leaves still chain to a root that stays trusted
   * (the old intermediate of an intermediate rotation): an SDS bootstrap they issued keeps working until it is due.
   */
  lastingIssuers?: ReadonlySet<string>;
}

/** Why a service needs work: stable codes for logs, metrics and tests; `detail` is for people. */
export type PlanReason =
  | "forced"
  | "no-certificate"
  | "expired"
  | "due"
  | "settings-changed"
  | "issuer-changed"
  | "resume"
  | "reattach"
  | "bundle-changed"
  | "references-changed"
  | "envoy-changed"
  | "up-to-date";

export type PlanVerdict =
  | { action: "issue"; reason: PlanReason; detail: string }
  | { action: "attach"; generation: number; reason: PlanReason; detail: string }
  | { action: "none"; reason: "up-to-date"; detail: string; nextRenewal: Date };

function dueAt(g: GenerationInfo, p: PlanParams): Date {
  return renewalTime({ notBefore: g.notBefore, notAfter: g.notAfter, renewBefore: p.renewBefore, jitter: p.jitter, seed: g.serial });
}

/** A generation that can serve as it is: complete, unexpired, not yet due, issued for today's settings and CA. */
function usable(g: GenerationInfo, input: PlanInput, p: PlanParams): boolean {
  return g.complete && g.profile === input.profile && g.issuer === p.issuer && p.now < dueAt(g, p) && p.now < g.notAfter;
}

const left = (g: GenerationInfo, now: Date): string => formatDuration((g.notAfter.getTime() - now.getTime()) / 1000);

/**
 * Decides what one service needs. Pure: the same input gives the same verdict. The checks run in order and the
 * first that fires wins (cert-manager style); the reason says which.
 */
export function planService(input: PlanInput, p: PlanParams): PlanVerdict {
  if (p.force) return { action: "issue", reason: "forced", detail: "rotation forced" };
  const byGen = new Map(input.generations.map((g) => [g.generation, g]));
  const current = input.attached === null ? undefined : byGen.get(input.attached);
  const newestUsable = [...input.generations]
    .filter((g) => usable(g, input, p))
    .sort((a, b) => b.generation - a.generation)[0];

  if (!current) {
    if (newestUsable) {
      return {
        action: "attach",
        generation: newestUsable.generation,
        reason: "reattach",
        detail: `generation ${newestUsable.generation} exists but is not attached (dropped by a redeploy?); re-attaching without a new certificate`,
      };
    }
    return { action: "issue", reason: "no-certificate", detail: "no certificate yet" };
  }
  // A newer generation that already fits today's settings and CA (an interrupted rollout left it) is attached before
  // any check that would issue: a resumed run never issues twice (e.g. after a crash mid CA rotation).
  if (newestUsable && newestUsable.generation > current.generation) {
    return { action: "attach", generation: newestUsable.generation, reason: "resume", detail: `finishing an interrupted rotation to generation ${newestUsable.generation}` };
  }
  if (p.now >= current.notAfter) return { action: "issue", reason: "expired", detail: `certificate expired at ${current.notAfter.toISOString()}` };
  if (current.issuer !== p.issuer && !(input.sds === true && p.lastingIssuers?.has(current.issuer))) return { action: "issue", reason: "issuer-changed", detail: "issued by an intermediate that no longer issues" };
  if (current.profile !== input.profile) return { action: "issue", reason: "settings-changed", detail: "the names, lifetime or key algorithm asked for changed (labels, or the config in embedded mode)" };
  const due = dueAt(current, p);
  if (p.now >= due) {
    return { action: "issue", reason: "due", detail: `${left(current, p.now)} left of ${formatDuration((current.notAfter.getTime() - current.notBefore.getTime()) / 1000)}` };
  }
  if (!input.bundleCurrent) return { action: "attach", generation: current.generation, reason: "bundle-changed", detail: "the trust bundle changed" };
  if (!input.refsExact) return { action: "attach", generation: current.generation, reason: "references-changed", detail: "secret targets, owner or mode changed" };
  if (!input.envoyCurrent) return { action: "attach", generation: current.generation, reason: "envoy-changed", detail: "the Envoy config changed" };
  return { action: "none", reason: "up-to-date", detail: `${left(current, p.now)} left; renews after ${due.toISOString()}`, nextRenewal: due };
}

/** The next time a generation becomes due (for `status`). */
export function nextRenewal(g: GenerationInfo, p: Pick<PlanParams, "renewBefore" | "jitter">): Date {
  return renewalTime({ notBefore: g.notBefore, notAfter: g.notAfter, renewBefore: p.renewBefore, jitter: p.jitter, seed: g.serial });
}

/**
 * Which generations to delete once a service runs on `attached`: every generation that is neither the attached one,
 * nor one of the `keepPrevious` newest below it (kept for rollback), nor referenced by any service. Newer ones are
 * leftovers of an abandoned rollout: under the lease no other rollout can be in flight. Pure.
 */
export function generationsToPrune(p: { generations: number[]; attached: number; keepPrevious: number; referenced: Set<number> }): number[] {
  const older = p.generations.filter((g) => g < p.attached).sort((a, b) => b - a);
  const keep = new Set([p.attached, ...older.slice(0, p.keepPrevious)]);
  return p.generations.filter((g) => !keep.has(g) && !p.referenced.has(g)).sort((a, b) => a - b);
}

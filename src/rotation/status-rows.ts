import type { Config } from "../config/load-config.js";
import type { Fleet } from "./fleet.js";
import { nextRenewal, type GenerationInfo, type PlanVerdict } from "./plan.js";
import type { ServiceStatus } from "./serving-types.js";

/** What a status row is read from, in either mode: one service (swarm) or configured identity (embedded). */
export interface StatusSource {
  service: string;
  identity: string | null;
  /** The generation the service runs (swarm: mounted; embedded: `current`), or null. */
  attached: number | null;
  generations: GenerationInfo[];
  verdict?: PlanVerdict;
  error?: string;
}

/**
 * One status row, as `status --json` and `GET /v1/services` show it: a service without a valid identity is named by
 * its service name (state `error`, the reason says why), a generation of 0 means none is attached, and `reason` is
 * left out when there is nothing to say. Pure.
 */
export function statusRow(src: StatusSource, config: Pick<Config, "leaf">, now: Date): ServiceStatus {
  const g = src.generations.find((x) => x.generation === src.attached);
  const v = src.verdict;
  const state: ServiceStatus["state"] = src.identity === null || src.error !== undefined ? "error" : !g ? "missing" : v?.action === "none" ? "ok" : "due";
  const reason = src.error ?? v?.detail ?? "";
  return {
    identity: src.identity ?? src.service,
    service: src.service,
    generation: g?.generation ?? 0,
    serial: g?.serial ?? null,
    notAfter: g?.notAfter.toISOString() ?? null,
    secondsLeft: g ? Math.round((g.notAfter.getTime() - now.getTime()) / 1000) : null,
    nextRotation: g ? nextRenewal(g, config.leaf).toISOString() : null,
    issuer: g?.issuer.slice(0, 16) || null,
    state,
    ...(reason ? { reason } : {}),
  };
}

/** Reads a gathered fleet into status rows. Pure. */
export function statusRows(fleet: Fleet, config: Pick<Config, "leaf">, now: Date): ServiceStatus[] {
  return fleet.entries.map((e) =>
    statusRow({ service: e.service.name, identity: e.identity?.identity ?? null, attached: e.attached?.generation ?? null, generations: e.generations, ...(e.verdict ? { verdict: e.verdict } : {}), ...(e.error ? { error: e.error } : {}) }, config, now),
  );
}

/** What the certificate metrics record of one row (cert-manager's Ready condition, expiry and renewal times). */
export interface CertificateMetricState {
  notAfter: Date | null;
  renewAt: Date | null;
  /** True: a certificate is attached and valid now; False: none, or expired; Unknown: the service's labels (or the identity's settings) are invalid. */
  ready: "True" | "False" | "Unknown";
  /** A failed rollout is not retried before this time (serve's backoff); null when not held back. */
  retryAt: Date | null;
}

/**
 * The metric state of every row, by the row's identity (a service with invalid labels under its service name, Ready
 * Unknown, which `SwarmMtlsCertificateLabelsInvalid` alerts on). Pure.
 */
export function certificateMetricStates(rows: readonly ServiceStatus[], now: Date): { identity: string; state: CertificateMetricState }[] {
  return rows.map((r) => {
    const notAfter = r.notAfter ? new Date(r.notAfter) : null;
    const ready = r.state === "error" ? "Unknown" : notAfter && notAfter > now ? "True" : "False";
    return { identity: r.identity, state: { notAfter, renewAt: r.nextRotation ? new Date(r.nextRotation) : null, ready, retryAt: r.retryAt ? new Date(r.retryAt) : null } };
  });
}

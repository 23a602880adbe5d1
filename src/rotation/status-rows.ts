import type { Config } from "../config/load-config.js";
import type { Fleet } from "./fleet.js";
import { nextRenewal } from "./plan.js";

/** One row of `status` / `GET /v1/services`: what an operator asks of a service's certificate. */
export interface ServiceStatusRow {
  identity: string | null;
  service: string;
  generation: number | null;
  serial: string | null;
  notAfter: string | null;
  secondsLeft: number | null;
  nextRotation: string | null;
  issuer: string | null;
  state: "ok" | "due" | "missing" | "error";
  reason: string;
}

/** Reads a gathered fleet into status rows. Pure. */
export function statusRows(fleet: Fleet, config: Pick<Config, "leaf">, now: Date): ServiceStatusRow[] {
  return fleet.entries.map((e) => {
    const g = e.generations.find((x) => x.generation === e.attached?.generation);
    const v = e.verdict;
    const state: ServiceStatusRow["state"] = !e.identity ? "error" : !g ? "missing" : v?.action === "none" ? "ok" : "due";
    return {
      identity: e.identity?.identity ?? null,
      service: e.service.name,
      generation: g?.generation ?? null,
      serial: g?.serial ?? null,
      notAfter: g?.notAfter.toISOString() ?? null,
      secondsLeft: g ? Math.round((g.notAfter.getTime() - now.getTime()) / 1000) : null,
      nextRotation: g ? nextRenewal(g, config.leaf).toISOString() : null,
      issuer: g?.issuer.slice(0, 16) ?? null,
      state,
      reason: e.error ?? v?.detail ?? "",
    };
  });
}

/** What the certificate metrics record of one row (cert-manager's Ready condition, expiry and renewal times). */
export interface CertificateMetricState {
  notAfter: Date | null;
  renewAt: Date | null;
  /** True: a certificate is attached and valid now; False: none, or expired; Unknown: the service's labels are invalid. */
  ready: "True" | "False" | "Unknown";
}

/** The metric state of every row with an identity, by identity. Pure. */
export function certificateMetricStates(rows: readonly ServiceStatusRow[], now: Date): { identity: string; state: CertificateMetricState }[] {
  return rows.flatMap((r) => {
    if (!r.identity) return [];
    const notAfter = r.notAfter ? new Date(r.notAfter) : null;
    const ready = r.state === "error" ? "Unknown" : notAfter && notAfter > now ? "True" : "False";
    return [{ identity: r.identity, state: { notAfter, renewAt: r.nextRotation ? new Date(r.nextRotation) : null, ready } }];
  });
}

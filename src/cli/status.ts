import { formatDuration } from "../config/duration.js";
import { gatherFleet } from "../rotation/fleet.js";
import { nextRenewal } from "../rotation/plan.js";
import { readLease } from "../swarm/lease.js";
import type { CliContext } from "./context.js";
import { table } from "./output.js";

/** One row of `status`: what an operator asks of a service's certificate. */
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

export interface StatusResult {
  trustDomain: string;
  services: ServiceStatusRow[];
  lease: { owner: string; expiresAt: string } | null;
}

export async function runStatus(ctx: CliContext): Promise<StatusResult> {
  const swarm = await ctx.swarm();
  const { authority } = await ctx.authority();
  const now = new Date();
  const fleet = await gatherFleet(swarm, authority, ctx.config, { force: false, now });
  const services: ServiceStatusRow[] = fleet.entries.map((e) => {
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
      nextRotation: g ? nextRenewal(g, ctx.config.leaf).toISOString() : null,
      issuer: g?.issuer.slice(0, 16) ?? null,
      state,
      reason: e.error ?? v?.detail ?? "",
    };
  });
  const lease = await readLease(swarm).catch(() => null);
  return {
    trustDomain: authority.trustDomain,
    services,
    lease: lease && !lease.expired ? { owner: lease.owner, expiresAt: lease.expiresAt.toISOString() } : null,
  };
}

export function showStatus(r: StatusResult): string {
  if (r.services.length === 0) return `no opted-in services (label a service with mtls.enable=true)`;
  const rows = r.services.map((s) => [
    s.identity ?? "-",
    s.service,
    s.generation === null ? "-" : `v${s.generation}`,
    s.serial ? s.serial.slice(0, 16) : "-",
    s.notAfter,
    s.secondsLeft === null ? "-" : formatDuration(s.secondsLeft),
    s.nextRotation,
    s.issuer,
    s.state === "error" ? `error: ${s.reason}` : s.state,
  ]);
  const lines = [table(["identity", "service", "gen", "serial", "not after", "left", "next rotation", "issuer", "state"], rows)];
  if (r.lease) lines.push("", `rotation running: lease held by ${r.lease.owner} until ${r.lease.expiresAt}`);
  return lines.join("\n");
}

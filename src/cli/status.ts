import { formatDuration } from "../config/duration.js";
import { caRotationServices, caRotationStatus, type CaRotationStatus } from "../rotation/ca-rotation.js";
import { readCaRotationRecord } from "../rotation/ca-rotation-record.js";
import { gatherFleet } from "../rotation/fleet.js";
import { statusRows, type ServiceStatusRow } from "../rotation/status-rows.js";
import { readLease } from "../swarm/lease.js";
import type { CliContext } from "./context.js";
import { table } from "./output.js";
import { showCaRotation } from "./rotate-ca.js";

export interface StatusResult {
  trustDomain: string;
  services: ServiceStatusRow[];
  lease: { owner: string; expiresAt: string } | null;
  /** The last or running CA rotation (phase, fingerprints, services done / total); null when none ever ran. */
  caRotation: CaRotationStatus | null;
}

export async function runStatus(ctx: CliContext): Promise<StatusResult> {
  const swarm = await ctx.swarm();
  const { authority } = await ctx.authority();
  const now = new Date();
  const fleet = await gatherFleet(swarm, authority, ctx.config, { force: false, now });
  const services = statusRows(fleet, ctx.config, now);
  const lease = await readLease(swarm, { name: ctx.config.rotation.leaseName }).catch(() => null);
  return {
    trustDomain: authority.trustDomain,
    services,
    lease: lease && !lease.expired ? { owner: lease.owner, expiresAt: lease.expiresAt.toISOString() } : null,
    caRotation: caRotationStatus(authority, readCaRotationRecord(authority), caRotationServices(fleet)),
  };
}

export function showStatus(r: StatusResult): string {
  const rotation = r.caRotation && r.caRotation.phase !== "complete" ? ["", ...showCaRotation(r.caRotation)] : [];
  if (r.services.length === 0) return [`no opted-in services (label a service with mtls.enable=true)`, ...rotation].join("\n");
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
  lines.push(...rotation);
  return lines.join("\n");
}

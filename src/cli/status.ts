import { formatDuration } from "../config/duration.js";
import { caRotationServices, caRotationStatus, type CaRotationStatus } from "../rotation/ca-rotation.js";
import { readCaRotationRecord } from "../rotation/ca-rotation-record.js";
import { gatherFleet } from "../rotation/fleet.js";
import type { ServiceStatus } from "../rotation/serving-types.js";
import { statusRows } from "../rotation/status-rows.js";
import { readLease } from "../swarm/lease.js";
import { createMetrics } from "../api/metrics.js";
import { MtlsError } from "../errors.js";
import { createServingPlane } from "../rotation/serving-plane.js";
import type { CaStore } from "../store/ca-store.js";
import type { CliContext } from "./context.js";
import { table } from "./output.js";
import { showCaRotation } from "./rotate-ca.js";

export interface StatusResult {
  /**
   * swarm: services labelled mtls.enable=true; embedded: the config's identities, files under DIR/certs/. Absent with
   * --server: the API does not say which mode the server runs in.
   */
  mode?: "swarm" | "embedded";
  /** The store (`swarm`, `file:DIR`), or with --server the server's origin. */
  store: string;
  /** Absent with --server over plain HTTP (read from the API certificate's SPIFFE ID). */
  trustDomain?: string;
  /** The rows `GET /v1/services` lists, field for field. */
  services: ServiceStatus[];
  /** Who holds the rotation lease; null when it is free. Absent with --server: the API does not publish it. */
  lease?: { owner: string; expiresAt: string } | null;
  /** The last or running CA rotation (phase, fingerprints, services done / total); null when none ever ran. */
  caRotation: CaRotationStatus | null;
}

export async function runStatus(ctx: CliContext): Promise<StatusResult> {
  const store = await ctx.store();
  if (store.location !== "swarm") return embeddedStatus(ctx, store);
  const swarm = await ctx.swarm();
  const { authority } = await ctx.publicAuthority();
  const now = ctx.clock();
  const fleet = await gatherFleet(swarm, authority, ctx.config, { force: false, now });
  const services = statusRows(fleet, ctx.config, now);
  const lease = await readLease(swarm, { name: ctx.config.rotation.leaseName, now: ctx.clock }).catch(() => null);
  return {
    mode: "swarm",
    store: "swarm",
    trustDomain: authority.trustDomain,
    services,
    lease: lease && !lease.expired ? { owner: lease.owner, expiresAt: lease.expiresAt.toISOString() } : null,
    caRotation: caRotationStatus(authority, readCaRotationRecord(authority), caRotationServices(fleet)),
  };
}

/**
 * The embedded mode's identities, read as `serve` on this file store reports them (GET /v1/services): the same
 * serving plane, without serving. Plain `status` comes here when no swarm manager answers and ./data holds a CA.
 */
async function embeddedStatus(ctx: CliContext, store: CaStore): Promise<StatusResult> {
  if (ctx.config.store === "auto" && (await store.readCaState()) === null) {
    throw new MtlsError("docker", `no swarm manager reachable (run this on a manager node, or set DOCKER_HOST), and no embedded-mode CA in ${store.location.slice("file:".length)} (\`npm start\` on this host creates one)`);
  }
  const plane = createServingPlane({
    store,
    kekFile: ctx.kekFile(store),
    config: ctx.config,
    logger: ctx.logger,
    metrics: createMetrics({ processMetrics: false }),
    dataDir: store.location.slice("file:".length),
    now: ctx.clock,
  });
  const { authority } = await ctx.authority();
  const services = await plane.listServices();
  return { mode: "embedded", store: store.location, trustDomain: authority.trustDomain, services, lease: null, caRotation: await plane.caRotation() };
}

export function showStatus(r: StatusResult): string {
  const rotation = r.caRotation && r.caRotation.phase !== "complete" ? ["", ...showCaRotation(r.caRotation)] : [];
  if (r.services.length === 0) {
    const none =
      r.mode === "embedded" ? `no identities in ${r.store} (list them under identities: in the config)`
      : r.mode === "swarm" ? `no opted-in services (label a service with mtls.enable=true)`
      : `${r.store} lists no services or identities`;
    return [none, ...rotation].join("\n");
  }
  const rows = r.services.map((s) => [
    s.identity,
    s.service,
    s.generation === 0 ? "-" : `v${s.generation}`,
    s.serial ? s.serial.slice(0, 16) : "-",
    s.notAfter,
    s.secondsLeft === null ? "-" : formatDuration(s.secondsLeft),
    s.nextRotation,
    s.issuer,
    s.state === "error" ? `error: ${s.reason ?? ""}` : s.state,
  ]);
  const lines = r.mode === "embedded" ? [`embedded mode: ${r.store}, trust domain ${r.trustDomain}`, ""] : [];
  lines.push(table(["identity", "service", "gen", "serial", "not after", "left", "next rotation", "issuer", "state"], rows));
  if (r.lease) lines.push("", `rotation running: lease held by ${r.lease.owner} until ${r.lease.expiresAt}`);
  lines.push(...rotation);
  return lines.join("\n");
}

/**
 * The exit code of `status`, for scripts (like `step certificate needs-renewal`): 1 when a certificate is expired or
 * missing, or a service's labels are invalid (something is wrong now); 4 when one is due for renewal and no rotation
 * is running (the lease is free: nothing is renewing it right now) or the lease is not known (--server); 0 otherwise.
 * Pure.
 */
export function statusExitCode(r: Pick<StatusResult, "services" | "lease">, now: Date): number {
  const broken = r.services.some((s) => s.state === "error" || s.state === "missing" || s.notAfter === null || Date.parse(s.notAfter) <= now.getTime());
  if (broken) return 1;
  const due = r.services.some((s) => s.state === "due");
  return due && !r.lease ? 4 : 0;
}

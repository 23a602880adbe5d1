import { formatDuration } from "../../config/duration.js";
import { isOptedIn } from "../../rotation/service-identity.js";
import { generationOf, LABEL } from "../../swarm/managed-labels.js";
import type { SecretRecord, ServiceRecord } from "../../swarm/swarm.js";
import type { AuditInventory } from "../audit-inventory.js";
import { finding, type AuditCheck, type Finding } from "../finding.js";
import { serviceObject, sh } from "../service-facts.js";

/** The managed certificate a service has mounted (highest generation) and its expiry, or null. */
export function mountedCertificate(s: ServiceRecord, inv: AuditInventory): { secret: SecretRecord; notAfter: Date | null } | null {
  const byId = new Map(inv.secrets.map((x) => [x.id, x]));
  let best: SecretRecord | null = null;
  for (const ref of s.secretRefs) {
    const x = ref.SecretID ? byId.get(ref.SecretID) : undefined;
    if (!x || x.labels[LABEL.managed] !== "true" || x.labels[LABEL.kind] !== "crt") continue;
    if (best === null || (generationOf(x.labels) ?? 0) > (generationOf(best.labels) ?? 0)) best = x;
  }
  if (best === null) return null;
  const notAfter = new Date(best.labels[LABEL.notAfter] ?? "");
  return { secret: best, notAfter: Number.isNaN(notAfter.getTime()) ? null : notAfter };
}

/** CRT001: an opted-in service's mounted certificate has expired, or expires before the scheduler next checks. */
export const certificateExpiresBeforeCheck: AuditCheck = {
  id: "CRT001",
  title: "certificate expires before the next scheduled check",
  severity: "high",
  severities: "critical when already expired",
  why: "Peers reject an expired certificate: the service's mTLS connections fail until it is rotated. If it runs out before the scheduler's next run, nothing will renew it in time.",
  run(inv, ctx) {
    const out: Finding[] = [];
    for (const s of inv.services) {
      if (!isOptedIn(s.labels, ctx.labelPrefix)) continue;
      const cert = mountedCertificate(s, inv);
      if (cert === null || cert.notAfter === null) continue;
      const left = Math.floor((cert.notAfter.getTime() - ctx.now.getTime()) / 1000);
      const fix = `swarm-mtls rotate ${sh(s.name)} --force`;
      if (left <= 0) {
        out.push(finding(certificateExpiresBeforeCheck, { severity: "critical", object: serviceObject(s), message: `certificate ${cert.secret.name} expired at ${cert.notAfter.toISOString()}`, fix }));
      } else if (cert.notAfter.getTime() <= ctx.nextCheckAt.getTime()) {
        out.push(
          finding(certificateExpiresBeforeCheck, {
            object: serviceObject(s),
            message: `certificate ${cert.secret.name} expires at ${cert.notAfter.toISOString()} (in ${formatDuration(left)}), before the next scheduled check at ${ctx.nextCheckAt.toISOString()}`,
            fix,
          }),
        );
      }
    }
    return out;
  },
};

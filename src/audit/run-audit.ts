import type { AuditContext, AuditInventory } from "./audit-inventory.js";
import { certificateExpiresBeforeCheck } from "./checks/certificate-expires-before-check.js";
import { credentialInEnvironment } from "./checks/credential-in-environment.js";
import { dangerousCapability } from "./checks/dangerous-capability.js";
import { databaseOnOpenNetwork } from "./checks/database-on-open-network.js";
import { databasePublishesPorts } from "./checks/database-publishes-ports.js";
import { databaseSharesEdgeNetwork } from "./checks/database-shares-edge-network.js";
import { dockerSocketMount } from "./checks/docker-socket-mount.js";
import { engineWithoutTls } from "./checks/engine-without-tls.js";
import { hostNetwork } from "./checks/host-network.js";
import { hostPathMount } from "./checks/host-path-mount.js";
import { managedServiceWithoutCertificate } from "./checks/managed-service-without-certificate.js";
import { networkJoinedByEverything } from "./checks/network-joined-by-everything.js";
import { plaintextPortOnManagedService } from "./checks/plaintext-port-on-managed-service.js";
import { privateKeyInEnvironment } from "./checks/private-key-in-environment.js";
import { publishedWithoutMtls } from "./checks/published-without-mtls.js";
import { unconfinedProfile } from "./checks/unconfined-profile.js";
import { unencryptedOverlay } from "./checks/unencrypted-overlay.js";
import { worldReadableSecret } from "./checks/world-readable-secret.js";
import { severityRank, type AuditCheck, type Finding } from "./finding.js";

/** Every check, in the order the README lists them. */
export const AUDIT_CHECKS: readonly AuditCheck[] = [
  databaseSharesEdgeNetwork,
  databasePublishesPorts,
  databaseOnOpenNetwork,
  networkJoinedByEverything,
  unencryptedOverlay,
  plaintextPortOnManagedService,
  credentialInEnvironment,
  privateKeyInEnvironment,
  worldReadableSecret,
  dockerSocketMount,
  engineWithoutTls,
  dangerousCapability,
  unconfinedProfile,
  hostPathMount,
  hostNetwork,
  certificateExpiresBeforeCheck,
  managedServiceWithoutCertificate,
  publishedWithoutMtls,
];

/** Runs every check (or `checks`) over the inventory. Pure. Findings come worst first, then by id and object. */
export function runAudit(inventory: AuditInventory, ctx: AuditContext, checks: readonly AuditCheck[] = AUDIT_CHECKS): Finding[] {
  const findings = checks.flatMap((c) => c.run(inventory, ctx));
  return findings.sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.id.localeCompare(b.id) ||
      a.object.kind.localeCompare(b.object.kind) ||
      a.object.name.localeCompare(b.object.name) ||
      a.message.localeCompare(b.message),
  );
}

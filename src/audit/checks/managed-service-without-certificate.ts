import { isOptedIn } from "../../rotation/service-identity.js";
import { finding, type AuditCheck } from "../finding.js";
import { serviceObject, sh } from "../service-facts.js";
import { mountedCertificate } from "./certificate-expires-before-check.js";

/** CRT002: a service opted in to mTLS has no managed certificate mounted (never rotated, or mounts edited by hand). */
export const managedServiceWithoutCertificate: AuditCheck = {
  id: "CRT002",
  title: "opted-in service has no certificate",
  severity: "low",
  why: "The service asked for mTLS (its opt-in label) but has no certificate mounted: either swarm-mtls has not run since it was labelled, or the rotation failed for it.",
  run(inv, ctx) {
    return inv.services
      .filter((s) => isOptedIn(s.labels, ctx.labelPrefix))
      .flatMap((s) => {
        const cert = mountedCertificate(s, inv);
        if (cert !== null && cert.notAfter !== null) return [];
        return [
          finding(managedServiceWithoutCertificate, {
            object: serviceObject(s),
            message: cert === null ? `labelled ${ctx.labelPrefix}enable=true but no swarm-mtls certificate is mounted` : `certificate ${cert.secret.name} has no readable not-after label`,
            fix: `swarm-mtls rotate ${sh(s.name)}${cert === null ? "" : " --force"} (swarm-mtls status shows why it failed)`,
          }),
        ];
      });
  },
};

import { isOptedIn } from "../../rotation/service-identity.js";
import { finding, type AuditCheck } from "../finding.js";
import { describePorts, isSwarmMtlsItself, publishedPorts, serviceObject, sh } from "../service-facts.js";

/** CRT003: a service that publishes ports and is not opted in to mTLS (informational). */
export const publishedWithoutMtls: AuditCheck = {
  id: "CRT003",
  title: "service publishes ports without mTLS",
  severity: "info",
  why: "Not wrong by itself (a public web front end serves browsers), but every published port without mTLS is reachable by anyone who can route to a node; internal APIs should require a client certificate.",
  run(inv, ctx) {
    const p = ctx.labelPrefix;
    return inv.services
      .filter((s) => !isOptedIn(s.labels, p) && !isSwarmMtlsItself(s) && publishedPorts(s).length > 0)
      .map((s) =>
        finding(publishedWithoutMtls, {
          object: serviceObject(s),
          message: `publishes ${describePorts(publishedPorts(s))} and is not opted in to mTLS`,
          fix: `docker service update --label-add ${p}enable=true --label-add ${p}envoy=true ${sh(s.name)} && swarm-mtls rotate ${sh(s.name)} (if its callers are services, not browsers)`,
        }),
      );
  },
};

import type { ServiceRecord } from "../../swarm/swarm.js";
import { finding, type AuditCheck, type Finding } from "../finding.js";
import { isServiceNetwork, isSwarmMtlsItself, networkIndex, serviceNetworks, sh } from "../service-facts.js";

/** Fewest services in a stack (or the swarm) for "everything on one network" to mean something. */
export const FLAT_NETWORK_MIN_SERVICES = 3;

/** SEG004: one network joined by every service of a stack, or of the whole swarm (a flat network). */
export const networkJoinedByEverything: AuditCheck = {
  id: "SEG004",
  title: "one network joined by everything",
  severity: "medium",
  why: "A flat network lets every service talk to every other: one compromised service reaches them all. Give each pair of tiers its own network so a service only reaches what it needs.",
  run(inv) {
    const index = networkIndex(inv.networks);
    // Scopes: each stack, then the whole swarm (swarm-mtls itself is left out: it joins networks to serve them).
    const scopes = new Map<string, ServiceRecord[]>();
    const candidates = inv.services.filter((s) => !isSwarmMtlsItself(s) && serviceNetworks(s, index).some(isServiceNetwork));
    for (const s of candidates) {
      const stack = s.labels["com.docker.stack.namespace"];
      if (!stack) continue;
      const key = `stack ${stack}`;
      scopes.set(key, [...(scopes.get(key) ?? []), s]);
    }
    scopes.set("the swarm", candidates);
    const out: Finding[] = [];
    const reported = new Set<string>();
    for (const [scope, services] of scopes) {
      if (services.length < FLAT_NETWORK_MIN_SERVICES) continue;
      const first = services[0] as ServiceRecord;
      for (const n of serviceNetworks(first, index).filter(isServiceNetwork)) {
        if (reported.has(n.id) || !services.every((s) => serviceNetworks(s, index).includes(n))) continue;
        reported.add(n.id);
        out.push(
          finding(networkJoinedByEverything, {
            object: { kind: "network", name: n.name },
            message: `every service of ${scope} (${services.length}) joins network ${n.name}`,
            fix:
              `split ${sh(n.name)} by tier: docker network create --driver overlay --opt encrypted=true <front>; ` +
              `docker network create --driver overlay --internal --opt encrypted=true <data>; then docker service update --network-rm ${sh(n.name)} --network-add <…> <service> for each service`,
          }),
        );
      }
    }
    return out;
  },
};

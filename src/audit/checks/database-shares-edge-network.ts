import { finding, type AuditCheck, type Finding } from "../finding.js";
import { isDatabaseLike, isServiceNetwork, networkIndex, publishedPorts, serviceNetworks, serviceObject, sh } from "../service-facts.js";

/** SEG001: a database shares a network with a service that publishes ports (the edge tier). */
export const databaseSharesEdgeNetwork: AuditCheck = {
  id: "SEG001",
  title: "database reachable from a service that publishes ports",
  severity: "high",
  why: "A compromised internet-facing service can connect straight to the database. Tiers should only meet on the networks they need: edge ↔ app on one, app ↔ data on another (internal).",
  run(inv) {
    const index = networkIndex(inv.networks);
    const out: Finding[] = [];
    for (const db of inv.services.filter(isDatabaseLike)) {
      for (const n of serviceNetworks(db, index).filter(isServiceNetwork)) {
        const edge = inv.services.filter((s) => s !== db && publishedPorts(s).length > 0 && serviceNetworks(s, index).includes(n));
        if (edge.length === 0) continue;
        const names = edge.map((s) => s.name).sort();
        const data = `${db.name}-data`;
        out.push(
          finding(databaseSharesEdgeNetwork, {
            object: serviceObject(db),
            message: `database-like service shares network ${n.name} with ${names.join(", ")}, which publish${names.length === 1 ? "es" : ""} ports`,
            fix:
              `docker network create --driver overlay --internal --opt encrypted=true ${sh(data)} && ` +
              `docker service update --network-rm ${sh(n.name)} --network-add ${sh(data)} ${sh(db.name)} ` +
              `(then --network-add ${sh(data)} only to the services that query it, not to ${names.join(", ")})`,
          }),
        );
      }
    }
    return out;
  },
};

import { finding, type AuditCheck, type Finding } from "../finding.js";
import { isDatabaseLike, isServiceNetwork, networkIndex, serviceNetworks, serviceObject, sh } from "../service-facts.js";

/** SEG003: a database joins a network created without `--internal`. */
export const databaseOnOpenNetwork: AuditCheck = {
  id: "SEG003",
  title: "database on a network that is not --internal",
  severity: "medium",
  why: "A network without --internal gives its tasks a route out: a compromised database (or anything beside it) can reach the internet to fetch tools or ship data out.",
  run(inv) {
    const index = networkIndex(inv.networks);
    const out: Finding[] = [];
    for (const db of inv.services.filter(isDatabaseLike)) {
      for (const n of serviceNetworks(db, index).filter((n) => isServiceNetwork(n) && !n.internal)) {
        const internal = `${n.name}-internal`;
        out.push(
          finding(databaseOnOpenNetwork, {
            object: serviceObject(db),
            message: `database-like service joins network ${n.name}, which is not internal`,
            fix:
              `docker network create --driver overlay --internal --opt encrypted=true ${sh(internal)} && ` +
              `docker service update --network-rm ${sh(n.name)} --network-add ${sh(internal)} ${sh(db.name)} (and move its clients to ${sh(internal)})`,
          }),
        );
      }
    }
    return out;
  },
};

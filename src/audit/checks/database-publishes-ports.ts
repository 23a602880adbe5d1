import { finding, type AuditCheck } from "../finding.js";
import { describePorts, isDatabaseLike, publishedPorts, serviceObject, sh } from "../service-facts.js";

/** SEG002: a database publishes ports (on every node, through the routing mesh, or on the host). */
export const databasePublishesPorts: AuditCheck = {
  id: "SEG002",
  title: "database publishes ports",
  severity: "high",
  why: "A published port is open on every node of the swarm (routing mesh) or on the host: the database is reachable from outside the swarm's networks, usually from the internet.",
  run(inv) {
    return inv.services
      .filter((s) => isDatabaseLike(s) && publishedPorts(s).length > 0)
      .map((s) => {
        const ports = publishedPorts(s);
        return finding(databasePublishesPorts, {
          object: serviceObject(s),
          message: `database-like service publishes ${describePorts(ports)}`,
          fix: `docker service update ${ports.map((p) => `--publish-rm ${p.target}`).join(" ")} ${sh(s.name)} (reach it over an internal overlay network instead)`,
        });
      });
  },
};

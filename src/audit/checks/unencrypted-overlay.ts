import { isOptedIn } from "../../rotation/service-identity.js";
import type { NetworkRecord } from "../../swarm/swarm.js";
import { finding, type AuditCheck, type Finding } from "../finding.js";
import { networkIndex, publishedPorts, serviceNetworks, sh } from "../service-facts.js";

/**
 * Whether an overlay network encrypts its data plane. The overlay driver turns IPsec on when the `encrypted` option
 * is present at all (libnetwork reads the key, not its value), so `--opt encrypted` and `--opt encrypted=true` both count.
 */
export function isEncrypted(n: NetworkRecord): boolean {
  return Object.prototype.hasOwnProperty.call(n.options, "encrypted");
}

/** ENC001: an overlay network without `encrypted=true`. */
export const unencryptedOverlay: AuditCheck = {
  id: "ENC001",
  title: "overlay network not encrypted",
  severity: "medium",
  severities: "medium when it carries opted-in (mTLS) services or the swarm has more than one node; low otherwise (and for the ingress routing mesh)",
  why: "Overlay traffic between nodes is plain VXLAN unless the network is created with --opt encrypted=true (IPsec): anyone on the path between nodes reads and can inject it.",
  run(inv, ctx) {
    const index = networkIndex(inv.networks);
    const multiNode = inv.nodes === null || inv.nodes > 1;
    const out: Finding[] = [];
    for (const n of inv.networks) {
      if (n.driver !== "overlay" || n.scope !== "swarm" || isEncrypted(n)) continue;
      if (n.ingress) {
        const publishers = inv.services.filter((s) => publishedPorts(s).some((p) => p.mode === "ingress"));
        if (publishers.length === 0) continue;
        out.push(
          finding(unencryptedOverlay, {
            severity: "low",
            object: { kind: "network", name: n.name },
            message: `the routing mesh carries published ports of ${publishers.length} service(s) between nodes without encryption`,
            fix: `with no service publishing ports: docker network rm ${sh(n.name)} && docker network create --driver overlay --ingress --opt encrypted=true ${sh(n.name)} (or publish with mode=host)`,
          }),
        );
        continue;
      }
      const services = inv.services.filter((s) => serviceNetworks(s, index).includes(n));
      const managed = services.filter((s) => isOptedIn(s.labels, ctx.labelPrefix));
      const severity = managed.length > 0 || (multiNode && services.length > 0) ? "medium" : "low";
      const carried =
        services.length === 0
          ? "no service yet"
          : `${services.length} service(s)${managed.length > 0 ? `, ${managed.length} of them opted in to mTLS` : ""}${multiNode ? ", across nodes" : ""}`;
      const enc = `${n.name}-enc`;
      const moves = services.slice(0, 3).map((s) => `docker service update --network-rm ${sh(n.name)} --network-add ${sh(enc)} ${sh(s.name)}`);
      if (services.length > 3) moves.push(`… (${services.length - 3} more)`);
      out.push(
        finding(unencryptedOverlay, {
          severity,
          object: { kind: "network", name: n.name },
          message: `overlay network without encrypted=true carries ${carried}`,
          fix: [`docker network create --driver overlay --opt encrypted=true${n.internal ? " --internal" : ""}${n.attachable ? " --attachable" : ""} ${sh(enc)}`, ...moves].join(" && "),
        }),
      );
    }
    return out;
  },
};

import { finding, type AuditCheck } from "../finding.js";
import { networkIndex, serviceNetworks, serviceObject, sh } from "../service-facts.js";

/** CAP004: a service on the host's network stack (`--network host`). */
export const hostNetwork: AuditCheck = {
  id: "CAP004",
  title: "service uses the host network",
  severity: "medium",
  why: "With the host network a task binds the node's addresses directly and reaches every local-only port (including a Docker API on 127.0.0.1:2375, metadata services, other containers' host ports), bypassing overlay segmentation and encryption.",
  run(inv) {
    const index = networkIndex(inv.networks);
    return inv.services
      .filter((s) => serviceNetworks(s, index).some((n) => n.driver === "host"))
      .map((s) =>
        finding(hostNetwork, {
          object: serviceObject(s),
          message: "joins the host network (shares the node's network stack)",
          fix: `docker service update --network-rm host --network-add <overlay> ${sh(s.name)} (or recreate it on an overlay network; publish ports with mode=host if it must bind the node)`,
        }),
      );
  },
};

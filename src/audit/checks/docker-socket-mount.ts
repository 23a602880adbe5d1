import { finding, type AuditCheck } from "../finding.js";
import { isSwarmMtlsItself, mounts, serviceObject, sh } from "../service-facts.js";

/** Host paths of container-engine API sockets. */
export const ENGINE_SOCKET_RE = /^\/(?:var\/)?run\/(?:docker|containerd\/containerd|podman\/podman|crio\/crio)\.sock$/;

/** SOCK001: a service other than swarm-mtls bind-mounts the Docker socket (read-only makes no difference). */
export const dockerSocketMount: AuditCheck = {
  id: "SOCK001",
  title: "Docker socket mounted into a service",
  severity: "critical",
  why: "Whoever talks to the Docker socket is root on the host (and, on a manager, controls the whole swarm and reads its secrets). A :ro mount does not help: it only protects the socket file, not the API.",
  run(inv) {
    return inv.services
      .filter((s) => !isSwarmMtlsItself(s))
      .flatMap((s) =>
        mounts(s)
          .filter((m) => m.type === "bind" && ENGINE_SOCKET_RE.test(m.source.replace(/\/+$/, "")))
          .map((m) =>
            finding(dockerSocketMount, {
              object: serviceObject(s),
              message: `bind-mounts the engine socket ${m.source} at ${m.target}${m.readOnly ? " (read-only does not limit the API)" : ""}`,
              fix: `docker service update --mount-rm ${sh(m.target)} ${sh(s.name)} (if it needs the API, give it a filtering proxy such as tecnativa/docker-socket-proxy on an internal network)`,
            }),
          ),
      );
  },
};

import { finding, type AuditCheck } from "../finding.js";
import { mounts, serviceObject, sh } from "../service-facts.js";
import { ENGINE_SOCKET_RE } from "./docker-socket-mount.js";

/** Host paths whose bind mount gives a container control over (or secrets of) the host. Subpaths count too. */
export const SENSITIVE_HOST_PATHS: readonly string[] = ["/", "/etc", "/root", "/boot", "/dev", "/proc", "/sys", "/run", "/var/run", "/var/lib/docker", "/var/lib/containerd", "/lib/modules", "/usr"];

function sensitiveRoot(source: string): string | undefined {
  const path = source.replace(/\/+$/, "") || "/";
  if (path === "/") return "/";
  return SENSITIVE_HOST_PATHS.filter((r) => r !== "/").find((r) => path === r || path.startsWith(`${r}/`));
}

/**
 * CAP003: privileged-style bind mounts of host system paths (`/`, `/etc`, `/proc`, `/sys`, `/dev`, `/run`,
 * `/var/lib/docker`, …). Engine sockets are SOCK001's. Swarm has no `--privileged`; these mounts are how services
 * get the same reach.
 */
export const hostPathMount: AuditCheck = {
  id: "CAP003",
  title: "host system path bind-mounted",
  severity: "high",
  severities: "high when writable or when it is the host's root; medium when read-only",
  why: "A writable bind mount of /, /etc, /proc, /sys, /dev or /var/lib/docker lets the container change the host (users, cron, kernel settings, other containers): a privileged container in all but name. Read-only mounts still leak host secrets.",
  run(inv) {
    return inv.services.flatMap((s) =>
      mounts(s)
        .filter((m) => m.type === "bind" && !ENGINE_SOCKET_RE.test(m.source.replace(/\/+$/, "")))
        .flatMap((m) => {
          const root = sensitiveRoot(m.source);
          if (root === undefined) return [];
          return [
            finding(hostPathMount, {
              severity: m.readOnly && root !== "/" ? "medium" : "high",
              object: serviceObject(s),
              message: `bind-mounts host path ${m.source} at ${m.target}${m.readOnly ? " read-only" : " writable"}`,
              fix: `docker service update --mount-rm ${sh(m.target)} ${sh(s.name)} (mount a volume or a narrower path${m.readOnly ? "" : ", read-only"})`,
            }),
          ];
        }),
    );
  },
};

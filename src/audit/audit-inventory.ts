import { isMtlsError } from "../errors.js";
import { resolveDockerEndpoint, type DockerConnectionParams } from "../swarm/docker-connection.js";
import type { NetworkRecord, SecretRecord, ServiceRecord, Swarm } from "../swarm/swarm.js";
import { networkTargets } from "./service-facts.js";

/** How we reached the Docker engine: tells whether its API is on the network without TLS. */
export interface EngineAccess {
  /** `unix:///var/run/docker.sock`, `tcp://10.0.0.5:2375`, … as we dialled it. */
  address: string;
  /** `unix` socket, plain `tcp` (HTTP), or `tls` (HTTPS). */
  transport: "unix" | "tcp" | "tls";
  /** HTTPS with server verification (DOCKER_TLS_VERIFY). */
  tlsVerify: boolean;
  /** We presented a client certificate (DOCKER_CERT_PATH / DOCKER_TLS_VERIFY). Over HTTPS without one, a daemon that
   * answered does not ask callers for a certificate. */
  clientCert: boolean;
  /** The address is a loopback address (127.0.0.0/8, ::1, localhost). */
  loopback: boolean;
}

/** Everything the checks read: inspected Docker objects, gathered once. Checks never call Docker. */
export interface AuditInventory {
  /** Every service with its full spec. */
  services: ServiceRecord[];
  /** Every network (swarm and local scope). */
  networks: NetworkRecord[];
  /** Every secret's metadata (labels only; data can't be read). */
  secrets: SecretRecord[];
  engine: EngineAccess;
  /** Nodes in the swarm, or null when unknown. */
  nodes: number | null;
}

/** What the checks need besides the inventory. */
export interface AuditContext {
  now: Date;
  /** When the scheduler next checks certificates (serve's `schedule.cron`). */
  nextCheckAt: Date;
  /** Opt-in label prefix, e.g. `mtls.`. */
  labelPrefix: string;
}

/** Reads how the engine is reached from the connection params (DOCKER_HOST and friends). Pure. */
export function readEngineAccess(p: DockerConnectionParams): EngineAccess {
  let ep: ReturnType<typeof resolveDockerEndpoint>;
  try {
    ep = resolveDockerEndpoint(p, "/");
  } catch {
    return { address: p.host ?? "", transport: "tcp", tlsVerify: false, clientCert: false, loopback: false };
  }
  if (ep.socketPath) return { address: `unix://${ep.socketPath}`, transport: "unix", tlsVerify: false, clientCert: false, loopback: true };
  const host = ep.hostname ?? "";
  const bare = host.replace(/^\[|\]$/g, "");
  const loopback = bare === "localhost" || bare === "::1" || /^127\./.test(bare);
  const tls = ep.protocol === "https";
  return {
    address: `${tls ? "https" : "tcp"}://${host}:${ep.port ?? ""}`,
    transport: tls ? "tls" : "tcp",
    tlsVerify: tls && p.tlsVerify === true,
    clientCert: ep.tls !== undefined,
    loopback,
  };
}

export interface AuditInventoryGatherParams {
  /** How the swarm was reached (the same params `connectSwarm` got). Default: the local Unix socket. */
  connection?: DockerConnectionParams;
}

/** Reads services, networks, secrets and the node count from the swarm. The only part of the audit that does I/O. */
export async function gatherAuditInventory(swarm: Swarm, p: AuditInventoryGatherParams = {}): Promise<AuditInventory> {
  const [services, networks, secrets, info] = await Promise.all([swarm.listServices(), swarm.listNetworks(), swarm.listSecrets(), swarm.info()]);
  // GET /networks leaves out swarm-level networks such as the swarm's `host`: inspect the targets it did not list.
  const known = new Set(networks.flatMap((n) => [n.id, n.name]));
  const missing = new Set(services.flatMap((s) => networkTargets(s)).filter((t) => !known.has(t)));
  for (const target of missing) {
    try {
      networks.push(await swarm.inspectNetwork(target));
    } catch (e) {
      if (!isMtlsError(e, "not-found")) throw e; // removed since the service was created: nothing to audit
    }
  }
  return { services, networks, secrets, engine: readEngineAccess(p.connection ?? {}), nodes: info.nodes ?? null };
}

/**
 * Small pure readers of a service's spec that several checks share. Every heuristic lives here, documented,
 * so the README can say exactly what the audit calls a "database" or "swarm-mtls itself".
 */
import type { ContainerSpec } from "../swarm/docker-types.js";
import type { NetworkRecord, ServiceRecord } from "../swarm/swarm.js";

/** The service's container spec (empty when the service runs a plugin or has none). */
export function containerSpec(s: ServiceRecord): ContainerSpec {
  return s.spec.TaskTemplate?.ContainerSpec ?? {};
}

/** The service's name without its stack prefix (`shop_db` → `db`). */
export function shortName(s: ServiceRecord): string {
  const stack = s.labels["com.docker.stack.namespace"];
  return stack && s.name.startsWith(`${stack}_`) ? s.name.slice(stack.length + 1) : s.name;
}

/** `registry:5000/team/postgres:16@sha256:…` → `team/postgres` (registry host, tag and digest dropped). */
export function imageRepository(image: string | undefined): string {
  let ref = (image ?? "").split("@")[0] ?? "";
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) ref = ref.slice(0, colon);
  const parts = ref.split("/");
  // The first part is a registry when it has a dot, a port or is `localhost` (as the docker CLI decides).
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0] ?? "")) parts.shift();
  return parts.join("/").toLowerCase();
}

/** Images and names the audit treats as a database or a data store (whole words, version digits allowed). */
const DATA_STORE = [
  "postgres", "postgresql", "postgis", "timescaledb", "mysql", "mariadb", "percona", "mongo", "mongodb", "redis", "valkey",
  "keydb", "memcached", "cassandra", "scylla", "scylladb", "couchdb", "couchbase", "elasticsearch", "opensearch", "clickhouse",
  "cockroach", "cockroachdb", "influxdb", "neo4j", "etcd", "rethinkdb", "arangodb", "mssql",
];
const DATA_STORE_RE = new RegExp(`(^|[^a-z])(${DATA_STORE.join("|")})(\\d*)($|[^a-z])`);
/** Tools named after a database that are not one (admin UIs, metric exporters). */
const NOT_A_DATA_STORE_RE = /(exporter|express|commander|admin|insight|backup|proxy|bouncer)/;
/** A service name word that says "database" on its own: `db`, `database`. */
const DB_WORD_RE = /(^|[-_.])(db|database)\d*($|[-_.])/;

/**
 * Database-like: the image's last path part, or the service's name, names a data store (whole word: `postgres`,
 * `mysql`, `mariadb`, `mongo`, `redis`, …), or the service's short name has the word `db` / `database`; names
 * with `exporter`, `admin`, `express`, `proxy`, `bouncer`, `backup`, … are tools around a database, not one.
 */
export function isDatabaseLike(s: ServiceRecord): boolean {
  const repo = imageRepository(containerSpec(s).Image);
  const last = repo.split("/").pop() ?? "";
  const name = s.name.toLowerCase();
  if (NOT_A_DATA_STORE_RE.test(last) || NOT_A_DATA_STORE_RE.test(name)) return false;
  return DATA_STORE_RE.test(last) || DATA_STORE_RE.test(name) || DB_WORD_RE.test(shortName(s).toLowerCase());
}

/** Label the swarm-mtls CA service carries. */
export const ROLE_LABEL = "io.swarm-mtls.role";

/**
 * swarm-mtls itself: the service (or its containers) carries `io.swarm-mtls.role=ca`, or its image's last path part
 * is `swarm-mtls` (`swarm-mtls:1`, `ghcr.io/acme/swarm-mtls:1`), or it is the project's CA image `swarm-mtls/ca`
 * (under any registry). Other images under a `swarm-mtls/` namespace (the test images `swarm-mtls/busybox`,
 * `swarm-mtls/echo`) are not.
 */
export function isSwarmMtlsItself(s: ServiceRecord): boolean {
  const cs = containerSpec(s) as ContainerSpec & { Labels?: Record<string, string> };
  if (s.labels[ROLE_LABEL] === "ca" || cs.Labels?.[ROLE_LABEL] === "ca") return true;
  const repo = imageRepository(cs.Image);
  return repo.split("/").pop() === "swarm-mtls" || repo === "swarm-mtls/ca" || repo.endsWith("/swarm-mtls/ca");
}

/** A published port as the spec asks for it. */
export interface PublishedPort {
  target: number;
  /** 0 when the engine picks one. */
  published: number;
  protocol: string;
  mode: string;
}

/** Ports the service publishes (`--publish`), from its spec. */
export function publishedPorts(s: ServiceRecord): PublishedPort[] {
  return (s.spec.EndpointSpec?.Ports ?? []).map((p) => ({
    target: p.TargetPort ?? 0,
    published: p.PublishedPort ?? 0,
    protocol: p.Protocol ?? "tcp",
    mode: p.PublishMode ?? "ingress",
  }));
}

export function describePorts(ports: PublishedPort[]): string {
  return ports.map((p) => `${p.published || "*"}:${p.target}${p.protocol === "tcp" ? "" : `/${p.protocol}`}`).join(", ");
}

/** Looks networks up by id and by name (a spec may name its targets either way). */
export function networkIndex(networks: NetworkRecord[]): Map<string, NetworkRecord> {
  const m = new Map<string, NetworkRecord>();
  for (const n of networks) {
    m.set(n.id, n);
    if (!m.has(n.name)) m.set(n.name, n);
  }
  return m;
}

/** Network ids (or names) in the service's spec (`TaskTemplate.Networks`, or the deprecated `Spec.Networks`). */
export function networkTargets(s: ServiceRecord): string[] {
  const targets = (s.spec.TaskTemplate?.Networks ?? s.spec.Networks ?? []) as { Target?: string }[];
  return targets.map((t) => t.Target).filter((t): t is string => typeof t === "string" && t !== "");
}

/** The networks a service's tasks join (`--network`), as records; targets the engine no longer knows are skipped. */
export function serviceNetworks(s: ServiceRecord, index: Map<string, NetworkRecord>): NetworkRecord[] {
  const out: NetworkRecord[] = [];
  for (const t of networkTargets(s)) {
    const n = index.get(t);
    if (n && !out.includes(n)) out.push(n);
  }
  return out;
}

/** A network services talk over: not the routing mesh, not `host`/`none`. */
export function isServiceNetwork(n: NetworkRecord): boolean {
  return !n.ingress && n.driver !== "host" && n.driver !== "null";
}

/** One `KEY=value` of `ContainerSpec.Env`. */
export interface EnvEntry {
  name: string;
  value: string;
}

export function envEntries(s: ServiceRecord): EnvEntry[] {
  return (containerSpec(s).Env ?? []).map((e) => {
    const eq = e.indexOf("=");
    return eq < 0 ? { name: e, value: "" } : { name: e.slice(0, eq), value: e.slice(eq + 1) };
  });
}

/** A PEM private-key header: PKCS#8, PKCS#1 (RSA), SEC1 (EC), DSA, OpenSSH, encrypted PKCS#8. */
export const PRIVATE_KEY_PEM_RE = /-----BEGIN (?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED) )?PRIVATE KEY-----/;

/** The secret name and file name a fix moves environment variable `name` of `service` into. */
export function secretNameFor(service: string, name: string): { secret: string; file: string } {
  const file = name.toLowerCase();
  return { secret: `${service}-${file.replace(/_/g, "-")}`.slice(0, 64), file };
}

/** One `ContainerSpec.Mounts` entry. */
export interface MountEntry {
  type: string;
  source: string;
  target: string;
  readOnly: boolean;
}

export function mounts(s: ServiceRecord): MountEntry[] {
  const list = (containerSpec(s) as { Mounts?: { Type?: string; Source?: string; Target?: string; ReadOnly?: boolean }[] }).Mounts ?? [];
  return list.map((m) => ({ type: m.Type ?? "volume", source: m.Source ?? "", target: m.Target ?? "", readOnly: m.ReadOnly === true }));
}

/** Quotes an argument for a POSIX shell when it needs it. */
export function sh(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The service object of a finding. */
export function serviceObject(s: ServiceRecord): { kind: "service"; name: string } {
  return { kind: "service", name: s.name };
}

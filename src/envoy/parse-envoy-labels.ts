/**
 * `mtls.envoy.*` service labels → `EnvoySidecarSettings`. Pure: the caller passes the labels and how to
 * turn a service or identity name into a SPIFFE ID. `ENVOY_LABELS` is the label reference as data (the
 * README's table is generated/checked from it).
 */
import { badInput, type MtlsError } from "../errors.js";
import { closestMatch } from "../closest-match.js";
import { ENVOY_DEFAULTS, type EnvoySidecarSettings, type EnvoyUpstream } from "./envoy-sidecar-settings.js";

export interface EnvoyLabelDoc {
  /** Label name after the prefix, e.g. `envoy.listen` (read as `mtls.envoy.listen`). */
  name: string;
  /** Accepted values. */
  values: string;
  /** What applies when the label is absent. */
  default: string;
  /** What it does, for operators. */
  meaning: string;
  /** `envoy`: an Envoy label; `shared`: a certificate label the Envoy config also reads. */
  scope: "envoy" | "shared";
}

export const ENVOY_LABELS: readonly EnvoyLabelDoc[] = [
  { name: "envoy", values: "`true` / `false`", default: "`false`", scope: "envoy", meaning: "Generate and publish an Envoy sidecar bootstrap for this service." },
  { name: "envoy.mode", values: "`tcp` / `http`", default: "`tcp`", scope: "envoy", meaning: "`tcp`: mTLS-terminating TCP proxy. `http`: HTTP proxy (HTTP/1.1 and HTTP/2 by ALPN) that passes the caller's SPIFFE ID to the app in `x-forwarded-client-cert`." },
  { name: "envoy.listen", values: "port", default: "`8443`", scope: "envoy", meaning: "Inbound mTLS port (on all interfaces) that peers connect to." },
  { name: "envoy.app", values: "`PORT` or `HOST:PORT`", default: "`127.0.0.1:8080`", scope: "envoy", meaning: "Where inbound traffic goes: `127.0.0.1:PORT` when Envoy runs in the app's container, `<app-service>:PORT` for a proxy service on an internal network." },
  { name: "envoy.upstreams", values: "`name:port[@localPort],…`", default: "none", scope: "envoy", meaning: "Services this one calls. Each gets a plaintext listener on `127.0.0.1:<localPort>` (default: `port`) that originates mTLS to `tasks.<name>:<port>`, pinning that service's SPIFFE ID." },
  { name: "envoy.tls-min", values: "`1.2` / `1.3`", default: "`1.2`", scope: "envoy", meaning: "Lowest TLS version accepted and offered (the maximum is 1.3 on both ends)." },
  { name: "envoy.admin-port", values: "port", default: "`9901`", scope: "envoy", meaning: "Envoy admin interface port; always bound to 127.0.0.1." },
  { name: "envoy.ready-port", values: "port", default: "`9902`", scope: "envoy", meaning: "Readiness listener (all interfaces) that serves only `GET /ready`, for health checks." },
  { name: "envoy.max-connections", values: "integer ≥ 1", default: "`1024`", scope: "envoy", meaning: "Global limit on downstream connections." },
  { name: "envoy.connect-timeout", values: "seconds, or `Ns`/`Nm`", default: "`5s`", scope: "envoy", meaning: "Timeout for connecting to the app and to upstreams." },
  { name: "envoy.idle-timeout", values: "seconds, or `Ns`/`Nm`/`Nh`", default: "`300s`", scope: "envoy", meaning: "Idle timeout of a proxied connection (tcp) or stream (http)." },
  { name: "envoy.target", values: "absolute path", default: "`/etc/envoy/envoy.yaml`", scope: "envoy", meaning: "Where the bootstrap (a Docker config) is mounted in the container." },
  { name: "allow", values: "identities or `spiffe://` IDs, comma separated", default: "any identity of the trust domain", scope: "shared", meaning: "Callers allowed in by the inbound RBAC filter, matched on the peer certificate's SPIFFE ID." },
  { name: "target.cert", values: "file name or absolute path", default: "`tls.crt`", scope: "shared", meaning: "Certificate chain file (under /run/secrets); Envoy reads it from there." },
  { name: "target.key", values: "file name or absolute path", default: "`tls.key`", scope: "shared", meaning: "Private key file (under /run/secrets); Envoy reads it from there." },
  { name: "target.ca", values: "file name or absolute path", default: "`ca.crt`", scope: "shared", meaning: "Trust bundle file (under /run/secrets); Envoy trusts it for peers." },
];

export interface EnvoyLabelsContext {
  /** Label prefix, e.g. `mtls.`. */
  prefix: string;
  /** Identity of the service (from `mtls.identity` or the service name). */
  identity: string;
  /** SPIFFE trust domain of the CA. */
  trustDomain: string;
  /** Docker service name. */
  serviceName: string;
  /** Stack namespace, when the service belongs to a stack. */
  stack?: string;
  /** SPIFFE ID of a service or identity name (as the CA would put in its certificate). */
  spiffeIdOf: (serviceOrIdentity: string) => string;
}

const SERVICE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** A service's labels read under the prefix: trimmed values, and errors that name the label. */
interface PrefixedLabels {
  all: Record<string, string>;
  label(name: string): string;
  read(name: string): string | undefined;
  fail(name: string, value: string, why: string): MtlsError;
}

function prefixedLabels(labels: Record<string, string>, prefix: string): PrefixedLabels {
  const label = (name: string) => `${prefix}${name}`;
  return {
    all: labels,
    label,
    read(name) {
      const v = labels[label(name)];
      return v === undefined ? undefined : v.trim();
    },
    fail: (name, value, why) => badInput(`label ${label(name)}: '${value}' ${why}`),
  };
}

/** Settings for the service's Envoy sidecar, or null when `<prefix>envoy` is absent or `false`. Throws `bad-input` naming the label. */
export function parseEnvoyLabels(labels: Record<string, string>, ctx: EnvoyLabelsContext): EnvoySidecarSettings | null {
  const l = prefixedLabels(labels, ctx.prefix);
  const enabled = l.read("envoy");
  if (enabled === undefined || enabled === "false") return null;
  if (enabled !== "true") throw l.fail("envoy", enabled, "must be true or false");
  rejectUnknownEnvoyLabels(l);

  const mode = readMode(l);
  const tlsMinimum = readTlsMinimum(l);
  const listenPort = readPort(l, "envoy.listen", ENVOY_DEFAULTS.listenPort);
  const adminPort = readPort(l, "envoy.admin-port", ENVOY_DEFAULTS.adminPort);
  const readyPort = readPort(l, "envoy.ready-port", ENVOY_DEFAULTS.readyPort);
  const app = parseApp(l.read("envoy.app"), (v, why) => l.fail("envoy.app", v, why));
  const maxConnections = readMaxConnections(l);
  const target = readTarget(l);
  const upstreams = parseUpstreams(l.read("envoy.upstreams"), ctx, (v, why) => l.fail("envoy.upstreams", v, why));
  const allow = parseAllow(l.read("allow"), ctx, (v, why) => l.fail("allow", v, why));
  checkOwnPorts(l, { listenPort, adminPort, readyPort, upstreams, app });

  return {
    identity: ctx.identity,
    trustDomain: ctx.trustDomain,
    spiffeId: ctx.spiffeIdOf(ctx.identity),
    mode,
    listenPort,
    app,
    allow,
    upstreams,
    tlsMinimum,
    files: { cert: readSecretFile(l, "cert"), key: readSecretFile(l, "key"), ca: readSecretFile(l, "ca") },
    adminPort,
    readyPort,
    maxConnections,
    connectTimeoutSeconds: readSeconds(l, "envoy.connect-timeout", ENVOY_DEFAULTS.connectTimeoutSeconds),
    idleTimeoutSeconds: readSeconds(l, "envoy.idle-timeout", ENVOY_DEFAULTS.idleTimeoutSeconds),
    target,
  };
}

/** Typos in envoy labels would silently fall back to defaults: reject them. */
function rejectUnknownEnvoyLabels(l: PrefixedLabels): void {
  const known = ENVOY_LABELS.map((d) => l.label(d.name));
  for (const key of Object.keys(l.all)) {
    if (!key.startsWith(l.label("envoy.")) || known.includes(key)) continue;
    const hint = closestMatch(key, known);
    throw badInput(`label ${key}: unknown Envoy label${hint ? `; did you mean ${hint}?` : ""} (known: ${known.filter((k) => k.startsWith(l.label("envoy."))).join(", ")})`);
  }
}

function readMode(l: PrefixedLabels): EnvoySidecarSettings["mode"] {
  const modeText = l.read("envoy.mode") ?? ENVOY_DEFAULTS.mode;
  if (modeText !== "tcp" && modeText !== "http") throw l.fail("envoy.mode", modeText, "must be tcp or http");
  return modeText;
}

function readTlsMinimum(l: PrefixedLabels): EnvoySidecarSettings["tlsMinimum"] {
  const tlsText = l.read("envoy.tls-min") ?? ENVOY_DEFAULTS.tlsMinimum;
  if (tlsText !== "1.2" && tlsText !== "1.3") throw l.fail("envoy.tls-min", tlsText, "must be 1.2 or 1.3");
  return tlsText;
}

function readPort(l: PrefixedLabels, name: string, fallback: number): number {
  const v = l.read(name);
  if (v === undefined) return fallback;
  return parsePort(v) ?? (() => { throw l.fail(name, v, "is not a port (1-65535)"); })();
}

function readSeconds(l: PrefixedLabels, name: string, fallback: number): number {
  const v = l.read(name);
  if (v === undefined) return fallback;
  const m = /^(\d+)(s|m|h)?$/.exec(v);
  const n = m ? Number(m[1]) * (m[2] === "h" ? 3600 : m[2] === "m" ? 60 : 1) : NaN;
  if (!(n >= 1 && n <= 86400)) throw l.fail(name, v, "is not a duration between 1s and 24h (like 30, 30s, 5m, 1h)");
  return n;
}

function readMaxConnections(l: PrefixedLabels): number {
  const maxText = l.read("envoy.max-connections");
  let maxConnections: number = ENVOY_DEFAULTS.maxConnections;
  if (maxText !== undefined) {
    maxConnections = /^\d+$/.test(maxText) ? Number(maxText) : NaN;
    if (!(maxConnections >= 1 && maxConnections <= 10_000_000)) throw l.fail("envoy.max-connections", maxText, "is not a whole number between 1 and 10000000");
  }
  return maxConnections;
}

function readTarget(l: PrefixedLabels): string {
  const target = l.read("envoy.target") ?? ENVOY_DEFAULTS.target;
  if (!/^\/[^\s\0]*[^/\s\0]$/.test(target)) throw l.fail("envoy.target", target, "is not an absolute file path");
  return target;
}

/** `target.cert|key|ca`: a file name under /run/secrets, or an absolute path. */
function readSecretFile(l: PrefixedLabels, name: "cert" | "key" | "ca"): string {
  const v = l.read(`target.${name}`);
  if (v === undefined) return ENVOY_DEFAULTS.files[name];
  if (v.startsWith("/")) {
    if (!/^\/[^\s\0]*[^/\s\0]$/.test(v)) throw l.fail(`target.${name}`, v, "is not a file path");
    return v;
  }
  if (!/^[A-Za-z0-9._-]+$/.test(v) || v === "." || v === "..") throw l.fail(`target.${name}`, v, "is not a file name (letters, digits, . _ -)");
  return `/run/secrets/${v}`;
}

/** Everything bound inside the sidecar's network namespace needs its own port. */
function checkOwnPorts(
  l: PrefixedLabels,
  p: { listenPort: number; adminPort: number; readyPort: number; upstreams: EnvoyUpstream[]; app: { host: string; port: number } },
): void {
  const bound: Array<[string, number]> = [
    [l.label("envoy.listen"), p.listenPort],
    [l.label("envoy.admin-port"), p.adminPort],
    [l.label("envoy.ready-port"), p.readyPort],
    ...p.upstreams.map((u): [string, number] => [`${l.label("envoy.upstreams")} (${u.name} local port)`, u.localPort]),
  ];
  if (p.app.host === "127.0.0.1" || p.app.host === "localhost") bound.push([`${l.label("envoy.app")} (the app on loopback)`, p.app.port]);
  for (let i = 0; i < bound.length; i++) {
    for (let j = i + 1; j < bound.length; j++) {
      const [a, pa] = bound[i] as [string, number];
      const [b, pb] = bound[j] as [string, number];
      if (pa === pb) throw badInput(`label ${b}: port ${pb} is already used by ${a}`);
    }
  }
}

function parsePort(v: string): number | undefined {
  if (!/^\d{1,5}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 1 && n <= 65535 ? n : undefined;
}

function parseApp(v: string | undefined, fail: (v: string, why: string) => Error): { host: string; port: number } {
  if (v === undefined) return { ...ENVOY_DEFAULTS.app };
  if (/^\d+$/.test(v)) {
    const port = parsePort(v);
    if (port === undefined) throw fail(v, "is not a port (1-65535)");
    return { host: "127.0.0.1", port };
  }
  const i = v.lastIndexOf(":");
  if (i <= 0) throw fail(v, "must be PORT or HOST:PORT");
  const host = v.slice(0, i);
  const port = parsePort(v.slice(i + 1));
  if (port === undefined) throw fail(v, `has no valid port after '${host}:' (1-65535)`);
  if (!IPV4.test(host) && !SERVICE_NAME.test(host)) throw fail(v, `has an invalid host '${host}' (an IPv4 address or a service name)`);
  return { host, port };
}

function parseUpstreams(v: string | undefined, ctx: EnvoyLabelsContext, fail: (v: string, why: string) => Error): EnvoyUpstream[] {
  if (v === undefined || v === "") return [];
  const out: EnvoyUpstream[] = [];
  for (const raw of v.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const m = /^([^:@]+):([^:@]+)(?:@([^:@]+))?$/.exec(entry);
    if (!m) throw fail(entry, "must be name:port or name:port@localPort");
    const name = m[1] as string;
    if (name.startsWith("tasks.")) throw fail(entry, `names the service, not its DNS name: write '${name.slice(6)}:${m[2]}'`);
    if (!SERVICE_NAME.test(name)) throw fail(entry, `has an invalid service name '${name}'`);
    const port = parsePort(m[2] as string);
    if (port === undefined) throw fail(entry, `has an invalid port '${m[2]}' (1-65535)`);
    const localPort = m[3] === undefined ? port : parsePort(m[3]);
    if (localPort === undefined) throw fail(entry, `has an invalid local port '${m[3]}' (1-65535)`);
    if (out.some((u) => u.name === name)) throw fail(entry, `lists '${name}' twice`);
    out.push({ name, port, localPort, spiffeId: ctx.spiffeIdOf(name), address: `tasks.${name}` });
  }
  return out;
}

function parseAllow(v: string | undefined, ctx: EnvoyLabelsContext, fail: (v: string, why: string) => Error): string[] {
  if (v === undefined || v === "") return [];
  const out: string[] = [];
  for (const raw of v.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    let id: string;
    if (entry.startsWith("spiffe://")) {
      const domain = entry.slice("spiffe://".length).split("/")[0];
      if (domain !== ctx.trustDomain) throw fail(entry, `is outside the trust domain ${ctx.trustDomain}`);
      if (!/^spiffe:\/\/[^/]+(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/.test(entry)) throw fail(entry, "is not a valid SPIFFE ID");
      id = entry;
    } else {
      if (!SERVICE_NAME.test(entry)) throw fail(entry, "is not an identity name or a spiffe:// ID");
      id = ctx.spiffeIdOf(entry);
    }
    if (!out.includes(id)) out.push(id);
  }
  return out;
}

import { createHash } from "node:crypto";
import {
  parseKeyAlgorithm,
  spiffeIdFor,
  validateDnsName,
  validateIdentity,
  validateSpiffeId,
  type KeyAlgorithm,
} from "../ca/index.js";
import { formatDuration, parseDuration } from "../config/duration.js";
import { checkMinLeafTtl } from "../config/leaf-ttl.js";
import { badInput, isMtlsError, printable } from "../errors.js";
import { closestMatch } from "../closest-match.js";
import { checkLabelDnsNames } from "./dns-name-policy.js";

/** What one opted-in service wants: everything the planner and the publisher need, read from its labels. */
export interface ServiceIdentity {
  serviceId: string;
  serviceName: string;
  /** com.docker.stack.namespace, or null for a service made with `docker service create`. */
  stack: string | null;
  identity: string;
  dnsNames: string[];
  spiffeId: string;
  ttlSeconds: number;
  keyAlgorithm: KeyAlgorithm;
  /** File names under /run/secrets. */
  targets: { cert: string; key: string; ca: string };
  /** Owner and mode of the key file inside the task. */
  keyFile: { uid: string; gid: string; mode: number };
  /** SPIFFE IDs allowed to call this service (Envoy inbound authz); empty = any identity of the trust domain. */
  allow: string[];
  /** Label `sds=true`: Envoy streams its working certificate over SDS; the Swarm secrets hold the bootstrap tier. */
  sds: boolean;
  /** Hash of the settings a certificate is issued for; a change means a new certificate. */
  profile: string;
}

/** Defaults that apply where a label is absent. */
export interface IdentityDefaults {
  /** Label prefix, e.g. "mtls.". */
  prefix: string;
  trustDomain: string;
  ttlSeconds: number;
  maxTtlSeconds: number;
  keyAlgorithm: KeyAlgorithm;
  /** Lifetime of the bootstrap certificate of a service in SDS mode (sds.bootstrapTtl); default ttlSeconds. */
  bootstrapTtlSeconds?: number;
  /** leaf.dnsSuffixes: domains `dns` label names may be under besides the trust domain; default none. */
  dnsSuffixes?: readonly string[];
}

/** Every label under the prefix this module reads (the `envoy.*` family belongs to the Envoy generator). */
export const SERVICE_LABELS = [
  ["enable", "`true` to manage this service", "—"],
  ["identity", "identity name (certificate CN, secret names)", "service name (stack prefix kept), lower-cased"],
  ["dns", "extra DNS SANs, comma separated: names under the trust domain or a leaf.dnsSuffixes domain (others are refused)", "service name, `tasks.<service>`, short name and `tasks.<short>` within a stack"],
  ["ttl", "leaf lifetime (`90m`, `24h`, `7d`), at most the CA's maximum", "leaf.ttl (24h)"],
  ["key-alg", "`ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa-2048`, `rsa-3072`", "leaf.keyAlgorithm, else the CA's"],
  ["target.cert", "file name of the chain under /run/secrets", "`tls.crt`"],
  ["target.key", "file name of the key under /run/secrets", "`tls.key`"],
  ["target.ca", "file name of the trust bundle under /run/secrets", "`ca.crt`"],
  ["uid", "owner uid of the key file (Envoy's image runs as 101)", "`0`"],
  ["gid", "owner gid of the key file", "`0`"],
  ["mode", "mode of the key file, octal", "`0400`"],
  ["sds", "`true`: the Envoy sidecar gets its working certificate and trust bundle over SDS from the CA, renewed in place with no task restart (needs `mtls.enable=true`, `mtls.envoy=true` and sds.enabled on the CA); the Swarm secrets then hold the bootstrap certificate", "`false`"],
  ["allow", "services allowed to call this one (Envoy inbound authz), comma separated: a name of the same stack, an identity outside stacks, or a full spiffe:// ID", "any identity of this CA"],
] as const;

const KNOWN = new Set<string>(SERVICE_LABELS.map(([name]) => name));

export function isOptedIn(labels: Record<string, string> | undefined, prefix: string): boolean {
  return (labels?.[`${prefix}enable`] ?? "").trim().toLowerCase() === "true";
}

function list(v: string | undefined): string[] {
  return (v ?? "").split(",").map((x) => x.trim()).filter((x) => x !== "");
}

const TARGET_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Wraps a validator so its error names the label it came from. */
function fromLabel<T>(label: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isMtlsError(e, "bad-input")) throw badInput(`label ${label}: ${e.message}`, e);
    throw e;
  }
}

/** The label `docker stack deploy` sets on every service of a stack; the stack part of a SPIFFE ID comes from it. */
export const STACK_LABEL = "com.docker.stack.namespace";

/**
 * A service may only claim the stack its name carries: `docker stack deploy` names every service `<stack>_<name>`,
 * while anyone creating a service can set the namespace label. Without this check a standalone `api` labelled with
 * stack `shop` would get the SPIFFE ID of `shop_api`. Pure; throws MtlsError("bad-input") naming the label.
 */
export function checkStackNamespace(serviceName: string, stack: string | null): void {
  if (stack === null) return;
  if (serviceName.startsWith(`${stack}_`) && serviceName.length > stack.length + 1) return;
  throw badInput(
    `label ${STACK_LABEL}: '${printable(stack)}' is not the stack of service '${printable(serviceName)}' (a stack's services are named '${printable(stack)}_<name>'); remove the label or deploy the service with docker stack deploy`,
  );
}

/** Reads the service's `<prefix><name>` label, trimmed; undefined when it is not set. */
type LabelGetter = (name: string) => string | undefined;

/** A label under the prefix that swarm-mtls does not know is refused, with a "did you mean". */
function refuseUnknownLabels(labels: Record<string, string>, p: string): void {
  for (const key of Object.keys(labels)) {
    if (!key.startsWith(p)) continue;
    const name = key.slice(p.length);
    if (KNOWN.has(name) || name === "envoy" || name.startsWith("envoy.")) continue;
    const guess = closestMatch(name, KNOWN);
    throw badInput(`unknown label ${key}${guess ? ` (did you mean ${p}${guess}?)` : ""}`);
  }
}

/** The DNS names: the service's own names that are host names (`tasks.` ones too), then `<prefix>dns` within the DNS-name policy. */
function readDnsNames(serviceName: string, short: string, get: LabelGetter, p: string, d: IdentityDefaults): string[] {
  // Default names: only those that are valid host names (Docker allows '_' in service names, DNS SANs don't).
  const defaults = [serviceName, `tasks.${serviceName}`, short, `tasks.${short}`].map((n) => n.toLowerCase());
  const dnsNames: string[] = [];
  for (const n of defaults) {
    try {
      const v = validateDnsName(n);
      if (!dnsNames.includes(v)) dnsNames.push(v);
    } catch {
      /* not a host name: the SPIFFE ID still identifies the service */
    }
  }
  const extra = get("dns");
  if (extra !== undefined && extra.length > 2048) throw badInput(`label ${p}dns: too long (${extra.length} characters)`);
  const labelled = list(extra).map((n) => fromLabel(`${p}dns`, () => validateDnsName(n)));
  checkLabelDnsNames(`${p}dns`, labelled, { trustDomain: d.trustDomain, suffixes: d.dnsSuffixes ?? [] }, dnsNames);
  for (const v of labelled) if (!dnsNames.includes(v)) dnsNames.push(v);
  if (dnsNames.length > 100) throw badInput(`label ${p}dns: at most 100 names`);
  return dnsNames;
}

/** `<prefix>sds` and `<prefix>ttl`: an SDS service's (bootstrap) certificate defaults to sds.bootstrapTtl. */
function readLifetime(get: LabelGetter, p: string, d: IdentityDefaults): { sds: boolean; ttlSeconds: number } {
  const sdsText = (get("sds") ?? "false").toLowerCase();
  if (sdsText !== "true" && sdsText !== "false") throw badInput(`label ${p}sds: '${printable(sdsText)}' must be true or false`);
  const sds = sdsText === "true";
  const ttlText = get("ttl");
  const defaultTtl = sds && d.bootstrapTtlSeconds !== undefined ? Math.min(d.bootstrapTtlSeconds, d.maxTtlSeconds) : d.ttlSeconds;
  const ttlSeconds = ttlText === undefined ? defaultTtl : parseDuration(ttlText, `label ${p}ttl`);
  if (ttlSeconds > d.maxTtlSeconds) {
    throw badInput(`label ${p}ttl: '${printable(ttlText)}' is over the CA maximum of ${formatDuration(d.maxTtlSeconds)}`);
  }
  checkMinLeafTtl(ttlSeconds, `label ${p}ttl`, ttlText);
  return { sds, ttlSeconds };
}

/** The file names the certificate, key and bundle are mounted at (`<prefix>target.*`): three plain, different names. */
function readTargets(get: LabelGetter, p: string): ServiceIdentity["targets"] {
  const target = (kind: "cert" | "key" | "ca", dflt: string): string => {
    const v = get(`target.${kind}`) ?? dflt;
    if (!TARGET_RE.test(v) || v === "." || v === "..") {
      throw badInput(`label ${p}target.${kind}: '${printable(v)}' must be a plain file name (letters, digits, '.', '_', '-')`);
    }
    return v;
  };
  const targets = { cert: target("cert", "tls.crt"), key: target("key", "tls.key"), ca: target("ca", "ca.crt") };
  if (new Set(Object.values(targets)).size !== 3) throw badInput(`labels ${p}target.*: cert, key and ca need three different file names`);
  return targets;
}

/** The key file's mode (`<prefix>mode`, octal): never readable by every user. */
function readKeyMode(get: LabelGetter, p: string): number {
  const modeText = get("mode") ?? "0400";
  if (!/^0?[0-7]{3}$/.test(modeText)) throw badInput(`label ${p}mode: '${printable(modeText)}' is not an octal file mode like 0400`);
  const mode = parseInt(modeText, 8);
  if (mode & 0o007) throw badInput(`label ${p}mode: '${modeText}' would make the private key readable by every user`);
  return mode;
}

/** The key file's owner or group (`<prefix>uid`, `<prefix>gid`), numeric. */
function readNumericId(get: LabelGetter, p: string, name: "uid" | "gid"): string {
  const v = get(name) ?? "0";
  if (!/^\d{1,10}$/.test(v) || Number(v) > 4294967294) throw badInput(`label ${p}${name}: '${printable(v)}' is not a numeric ${name}`);
  return String(Number(v));
}

/**
 * Reads one service's labels into what it wants. Pure. Throws MtlsError("bad-input") naming the label and the
 * value of the first problem; the caller reports it for this service and goes on with the others.
 */
export function readServiceIdentity(
  service: { id: string; name: string; labels: Record<string, string> },
  d: IdentityDefaults,
): ServiceIdentity {
  const p = d.prefix;
  const labels = service.labels;
  refuseUnknownLabels(labels, p);
  const get: LabelGetter = (name) => labels[`${p}${name}`]?.trim();
  const stack = labels[STACK_LABEL]?.trim() || null;
  const serviceName = service.name;
  checkStackNamespace(serviceName, stack);
  const short = stack ? serviceName.slice(stack.length + 1) : serviceName;

  const identity = fromLabel(`${p}identity`, () => validateIdentity(get("identity") || serviceName.toLowerCase()));
  const dnsNames = readDnsNames(serviceName, short, get, p, d);
  const { sds, ttlSeconds } = readLifetime(get, p, d);
  const algText = get("key-alg");
  const keyAlgorithm = algText === undefined ? d.keyAlgorithm : fromLabel(`${p}key-alg`, () => parseKeyAlgorithm(algText));
  const targets = readTargets(get, p);
  const mode = readKeyMode(get, p);

  const spiffeId = fromLabel(`${p}identity`, () =>
    spiffeIdFor({ trustDomain: d.trustDomain, stack: stack ?? undefined, service: stack ? serviceName : undefined, identity }),
  );
  const allow = list(get("allow")).map((a) => fromLabel(`${p}allow`, () => peerSpiffeId(a, { trustDomain: d.trustDomain, stack })));

  const profile = settingsProfile({ identity, dnsNames, spiffeId, ttlSeconds, keyAlgorithm });
  // uid and gid are read last, as they always were: with several bad labels, the first reported stays the same.
  const keyFile = { uid: readNumericId(get, p, "uid"), gid: readNumericId(get, p, "gid"), mode };
  return { serviceId: service.id, serviceName, stack, identity, dnsNames, spiffeId, ttlSeconds, keyAlgorithm, targets, keyFile, allow, sds, profile };
}

/**
 * The hash of the settings a certificate is issued for (names, SPIFFE ID, extra URIs, lifetime, key algorithm): a
 * change means a new certificate, in both modes. Without extra URIs (swarm mode) the hash is the one older versions
 * wrote on their secrets, so an upgrade re-issues nothing. Pure.
 */
export function settingsProfile(p: { identity: string; dnsNames: string[]; spiffeId: string; uris?: string[]; ttlSeconds: number; keyAlgorithm: KeyAlgorithm }): string {
  const extra = p.uris && p.uris.length > 0 ? { uris: [...p.uris].sort() } : {};
  return createHash("sha256")
    .update(JSON.stringify({ identity: p.identity, dns: [...p.dnsNames].sort(), spiffeId: p.spiffeId, ttlSeconds: p.ttlSeconds, keyAlgorithm: p.keyAlgorithm, ...extra }))
    .digest("hex")
    .slice(0, 16);
}

/**
 * The SPIFFE ID an operator means by a peer name in `mtls.allow` or an Envoy upstream: a full `spiffe://` ID as it
 * is; inside a stack a bare name is a service of the same stack (`/swarm/<stack>/<name>`); outside a stack it is an
 * identity (`/id/<name>`).
 */
export function peerSpiffeId(name: string, ctx: { trustDomain: string; stack: string | null }): string {
  if (name.startsWith("spiffe://")) return validateSpiffeId(name);
  if (ctx.stack) return spiffeIdFor({ trustDomain: ctx.trustDomain, stack: ctx.stack, service: name, identity: validateIdentity(name.toLowerCase()) });
  return spiffeIdFor({ trustDomain: ctx.trustDomain, identity: validateIdentity(name) });
}

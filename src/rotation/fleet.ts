import { createHash } from "node:crypto";
import { bundlePem, type Authority } from "../ca/index.js";
import type { Config } from "../config/load-config.js";
import { badInput, isMtlsError } from "../errors.js";
import { LABEL } from "../swarm/managed-labels.js";
import type { SecretRecord, ServiceRecord, Swarm } from "../swarm/swarm.js";
import { generationsOf, indexManagedSecrets, readAttached, type AttachedState } from "./attachments.js";
import { lastingIssuers } from "./ca-rotation-phase.js";
import { bundleRoots, issuingRoots, knownRoots, trustBundleMustChange, type KnownRoot } from "./bootstrap-trust.js";
import { planService, type GenerationInfo, type PlanParams, type PlanVerdict } from "./plan.js";
import { identityClaimConflicts, type IdentityClaim } from "./identity-claims.js";
import { isOptedIn, peerSpiffeId, readServiceIdentity, type ServiceIdentity } from "./service-identity.js";
import { parseEnvoyLabels, renderEnvoyBootstrapYaml } from "../envoy/index.js";
import { sdsServerSpiffeId, type EnvoySdsSettings } from "../envoy/envoy-sidecar-settings.js";
import type { ConfigRecord } from "../swarm/swarm.js";

/** The Envoy bootstrap a service wants (label `mtls.envoy=true`), rendered. */
export interface EnvoyWant {
  yaml: string;
  fingerprint: string;
  target: string;
}

/** One opted-in service, gathered and judged. */
export interface FleetEntry {
  service: ServiceRecord;
  /** Absent when its labels are invalid (then `error` says why). */
  identity?: ServiceIdentity;
  error?: string;
  attached?: AttachedState;
  generations: GenerationInfo[];
  verdict?: PlanVerdict;
  /**
   * Its mounted trust bundle needs no update: the current one, or (SDS mode) one that still verifies the CA's SDS
   * listener (bootstrap-trust.ts).
   */
  bundleOk?: boolean;
  /** Present when the service runs an Envoy sidecar made by us. */
  envoy?: EnvoyWant;
}

/** Everything one reconcile knows: gathered once, then decided on per service. */
export interface Fleet {
  entries: FleetEntry[];
  /** The trust bundle the CA publishes now. */
  bundle: { pem: string; fingerprint: string; secret: SecretRecord | null };
  secrets: ReturnType<typeof indexManagedSecrets>;
  /** All services (opted in or not), for "is this secret referenced anywhere?". */
  allServices: ServiceRecord[];
  /** Managed Envoy configs, by id. */
  envoyConfigs: Map<string, ConfigRecord>;
  /** Intermediates whose SDS bootstraps need not be replaced (ca-rotation-phase.ts lastingIssuers). */
  lastingIssuers: ReadonlySet<string>;
}

export interface FleetGatherParams {
  /** Service names or ids to look at; default: every opted-in service. */
  services?: string[];
  force: boolean;
  now: Date;
  /** With `services`: leave out those that are not opted in instead of reporting them. Default false. */
  onlyOptedIn?: boolean;
  /** Only the services with one of these identities (the API's rotate of one identity). */
  identities?: string[];
}

export const sha256Hex = (s: string | Uint8Array): string => createHash("sha256").update(s).digest("hex");

/** The fingerprint of the issuing intermediate: what leaf labels record as their issuer. */
export function issuerFingerprint(a: Authority): string {
  return sha256Hex(new Uint8Array(a.intermediate.cert.rawData));
}

/** What a service's identity defaults to when its labels leave something out: the config within the CA's limits. */
type IdentityDefaults = Parameters<typeof readServiceIdentity>[1];

/** The services a gather looks at: the named ones (unknown names reported as missing), or every opted-in one. Pure. */
export function selectServices(all: ServiceRecord[], p: Pick<FleetGatherParams, "services" | "onlyOptedIn">, prefix: string): { selected: ServiceRecord[]; missing: FleetEntry[] } {
  if (!p.services || p.services.length === 0) return { selected: all.filter((s) => isOptedIn(s.labels, prefix)), missing: [] };
  const selected: ServiceRecord[] = [];
  const missing: FleetEntry[] = [];
  for (const want of p.services) {
    const found = all.find((s) => s.name === want || s.id === want || (want.length >= 6 && s.id.startsWith(want)));
    if (found && p.onlyOptedIn && !isOptedIn(found.labels, prefix)) continue;
    if (found) selected.push(found);
    else if (!p.onlyOptedIn) missing.push({ service: { id: "", name: want } as ServiceRecord, error: `no service named '${want}'`, generations: [] });
  }
  return { selected, missing };
}

function identityDefaults(config: Config, authority: Authority): IdentityDefaults {
  return {
    prefix: config.labelPrefix,
    trustDomain: authority.trustDomain,
    ttlSeconds: Math.min(config.seconds.leafTtl, authority.maxLeafTtlSeconds),
    maxTtlSeconds: authority.maxLeafTtlSeconds,
    bootstrapTtlSeconds: config.seconds.sdsBootstrapTtl,
    dnsSuffixes: config.leaf.dnsSuffixes,
    keyAlgorithm: (config.leaf.keyAlgorithm || authority.defaultKeyAlgorithm) as ServiceIdentity["keyAlgorithm"],
  };
}

/** One selected service read from its labels: its identity and Envoy bootstrap, or why its labels are refused. */
function readEntry(service: ServiceRecord, defaults: IdentityDefaults, config: Config, trustDomain: string): FleetEntry {
  const prefix = config.labelPrefix;
  if (!isOptedIn(service.labels, prefix)) return { service, error: `not opted in (add the label ${prefix}enable=true)`, generations: [] };
  try {
    const identity = readServiceIdentity(service, defaults);
    const sds = identity.sds && service.labels[`${prefix}envoy`]?.trim() === "true" ? envoySdsSettings(config, trustDomain, prefix) : undefined;
    const envoy = envoyWanted(service, identity, prefix, trustDomain, sds);
    return { service, identity, generations: [], ...(envoy ? { envoy } : {}) };
  } catch (e) {
    if (isMtlsError(e, "bad-input")) return { service, error: e.message, generations: [] };
    throw e;
  }
}

/**
 * Two services claiming one identity or one SPIFFE ID: all of them are refused, each naming the others. A service
 * outside the selection still counts. Changes `entries` in place.
 */
function refuseConflictingClaims(entries: FleetEntry[], all: ServiceRecord[], selected: ServiceRecord[], defaults: IdentityDefaults): void {
  const claims: IdentityClaim[] = [];
  for (const e of entries) if (e.identity) claims.push({ serviceName: e.service.name, identity: e.identity.identity, spiffeId: e.identity.spiffeId });
  for (const s of all) {
    if (selected.includes(s) || !isOptedIn(s.labels, defaults.prefix)) continue;
    try {
      const { identity, spiffeId } = readServiceIdentity(s, defaults);
      claims.push({ serviceName: s.name, identity, spiffeId });
    } catch {
      /* its own problem, reported when it is selected */
    }
  }
  const conflicts = identityClaimConflicts(claims, defaults.prefix);
  for (const e of entries) {
    const reason = e.identity ? conflicts.get(e.service.name) : undefined;
    if (reason === undefined) continue;
    delete e.identity;
    e.error = reason;
  }
}

/** Each entry with an identity: its generations, what it mounts, and the planner's verdict. Changes `entries` in place. */
function planEntries(entries: FleetEntry[], found: { secrets: Fleet["secrets"]; bundleSecret: SecretRecord | null; envoyConfigs: Map<string, ConfigRecord>; trust: { issuing: string[]; known: KnownRoot[] } }, planParams: PlanParams): void {
  for (const e of entries) {
    if (!e.identity) continue;
    e.generations = generationsOf(found.secrets.byIdentity.get(e.identity.identity));
    e.attached = readAttached(e.service.secretRefs, e.identity, found.secrets.byId);
    const mounted = e.attached.bundleSecretId === null ? undefined : found.secrets.byId.get(e.attached.bundleSecretId);
    const current = found.bundleSecret !== null && e.attached.bundleSecretId === found.bundleSecret.id;
    const sds = e.identity.sds === true;
    const roots = sds && !current ? bundleRoots(mounted?.labels[LABEL.fingerprint], found.trust.known) : null;
    e.bundleOk = !trustBundleMustChange({ sds, current, roots }, found.trust.issuing);
    const input = { profile: e.identity.profile, attached: e.attached.generation, bundleCurrent: e.bundleOk, refsExact: e.attached.exact, envoyCurrent: envoyCurrent(e, found.envoyConfigs), generations: e.generations, sds: e.identity.sds };
    e.verdict = planService(input, planParams);
  }
}

/**
 * Gathers every opted-in service, its identity from labels, what it has mounted and which generations exist, and
 * plans each (pure planner). Reads only. An invalid service gets `error`; the others go on.
 */
export async function gatherFleet(swarm: Swarm, authority: Authority, config: Config, p: FleetGatherParams): Promise<Fleet> {
  const [allServices, secretList, configList] = await Promise.all([
    swarm.listServices(),
    swarm.listSecrets({ label: [`${LABEL.managed}=true`] }),
    swarm.listConfigs({ label: [`${LABEL.managed}=true`, `${LABEL.kind}=envoy`] }),
  ]);
  const envoyConfigs = new Map(configList.map((c) => [c.id, c]));
  const secrets = indexManagedSecrets(secretList);
  const pem = bundlePem(authority);
  const fingerprint = sha256Hex(pem);
  const bundleSecret = secrets.bundles.find((s) => s.labels[LABEL.fingerprint] === fingerprint) ?? null;

  const { selected, missing } = selectServices(allServices, p, config.labelPrefix);
  const defaults = identityDefaults(config, authority);
  let entries = selected.map((service) => readEntry(service, defaults, config, authority.trustDomain));
  refuseConflictingClaims(entries, allServices, selected, defaults);
  if (p.identities) {
    const wanted = new Set(p.identities);
    entries = entries.filter((e) => e.identity !== undefined && wanted.has(e.identity.identity));
  }
  const planParams: PlanParams = { now: p.now, force: p.force, issuer: issuerFingerprint(authority), renewBefore: config.leaf.renewBefore, jitter: config.leaf.jitter, lastingIssuers: lastingIssuers(authority, p.now) };
  planEntries(entries, { secrets, bundleSecret, envoyConfigs, trust: { issuing: issuingRoots(authority), known: knownRoots(authority) } }, planParams);
  return { entries: [...missing, ...entries], bundle: { pem, fingerprint, secret: bundleSecret }, secrets, allServices, envoyConfigs, lastingIssuers: planParams.lastingIssuers as ReadonlySet<string> };
}

/** Renders the Envoy bootstrap a service's labels ask for, or undefined when it has no `<prefix>envoy=true`. */
export function envoyWanted(service: ServiceRecord, identity: ServiceIdentity, prefix: string, trustDomain: string, sds?: EnvoySdsSettings): EnvoyWant | undefined {
  const settings = parseEnvoyLabels(service.labels, {
    prefix,
    identity: identity.identity,
    trustDomain,
    serviceName: service.name,
    ...(identity.stack ? { stack: identity.stack } : {}),
    spiffeIdOf: (name) => peerSpiffeId(name, { trustDomain, stack: identity.stack }),
  });
  if (!settings) return undefined;
  const yaml = renderEnvoyBootstrapYaml(identity.sds && sds ? { ...settings, sds } : settings);
  return { yaml, fingerprint: sha256Hex(yaml), target: settings.target };
}

/**
 * Where the Envoy of an SDS-mode service fetches its secrets: `sds.address` and the port of `sds.listen`. Pure;
 * bad input (reported for that service) when the CA's config does not say where its SDS listener is reached.
 */
export function envoySdsSettings(config: Config, trustDomain: string, prefix: string): EnvoySdsSettings {
  if (!config.sds.address) throw badInput(`label ${prefix}sds=true: the CA's config does not say where sidecars reach its SDS listener: set sds.address (SWARM_MTLS_SDS_ADDRESS) to the CA service's host name on a network the service shares with it`);
  return { address: config.sds.address, port: Number(/:(\d+)$/.exec(config.sds.listen)?.[1] ?? 8444), serverSpiffeId: sdsServerSpiffeId(trustDomain), initialFetchTimeoutSeconds: 10 };
}

/** The service mounts, at the wanted target, a managed Envoy config with exactly the wanted content. */
function envoyCurrent(e: FleetEntry, configs: Map<string, ConfigRecord>): boolean {
  const mounted = e.service.configRefs.filter((r) => r.ConfigID && configs.has(r.ConfigID));
  if (!e.envoy) return mounted.length === 0;
  const want = e.envoy;
  return mounted.length === 1 && mounted.some((r) => r.File?.Name === want.target && configs.get(r.ConfigID as string)?.labels[LABEL.fingerprint] === want.fingerprint);
}

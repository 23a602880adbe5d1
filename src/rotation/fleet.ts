import { createHash } from "node:crypto";
import { bundlePem, type Authority } from "../ca/index.js";
import type { Config } from "../config/load-config.js";
import { badInput, isMtlsError } from "../errors.js";
import { LABEL } from "../swarm/managed-labels.js";
import type { SecretRecord, ServiceRecord, Swarm } from "../swarm/swarm.js";
import { generationsOf, indexManagedSecrets, readAttached, type AttachedState } from "./attachments.js";
import { lastingIssuers } from "./ca-rotation-phase.js";
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

/**
 * Gathers every opted-in service, its identity from labels, what it has mounted and which generations exist, and
 * plans each (pure planner). Reads only. An invalid service gets `error`; the others go on.
 */
export async function gatherFleet(swarm: Swarm, authority: Authority, config: Config, p: FleetGatherParams): Promise<Fleet> {
  const prefix = config.labelPrefix;
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

  let selected: ServiceRecord[];
  const missing: FleetEntry[] = [];
  if (p.services && p.services.length > 0) {
    selected = [];
    for (const want of p.services) {
      const found = allServices.find((s) => s.name === want || s.id === want || (want.length >= 6 && s.id.startsWith(want)));
      if (found && p.onlyOptedIn && !isOptedIn(found.labels, prefix)) continue;
      if (found) selected.push(found);
      else if (!p.onlyOptedIn) missing.push({ service: { id: "", name: want } as ServiceRecord, error: `no service named '${want}'`, generations: [] });
    }
  } else {
    selected = allServices.filter((s) => isOptedIn(s.labels, prefix));
  }

  const defaults = {
    prefix,
    trustDomain: authority.trustDomain,
    ttlSeconds: Math.min(config.seconds.leafTtl, authority.maxLeafTtlSeconds),
    maxTtlSeconds: authority.maxLeafTtlSeconds,
    bootstrapTtlSeconds: config.seconds.sdsBootstrapTtl,
    dnsSuffixes: config.leaf.dnsSuffixes,
    keyAlgorithm: (config.leaf.keyAlgorithm || authority.defaultKeyAlgorithm) as ServiceIdentity["keyAlgorithm"],
  };
  const entries: FleetEntry[] = selected.map((service) => {
    if (!isOptedIn(service.labels, prefix)) {
      return { service, error: `not opted in (add the label ${prefix}enable=true)`, generations: [] };
    }
    try {
      const identity = readServiceIdentity(service, defaults);
      const envoy = envoyWanted(service, identity, prefix, authority.trustDomain, identity.sds && service.labels[`${prefix}envoy`]?.trim() === "true" ? envoySdsSettings(config, authority.trustDomain, prefix) : undefined);
      return { service, identity, generations: [], ...(envoy ? { envoy } : {}) };
    } catch (e) {
      if (isMtlsError(e, "bad-input")) return { service, error: e.message, generations: [] };
      throw e;
    }
  });

  // Two services claiming one identity or one SPIFFE ID: refuse all of them, naming the others. A service outside
  // the selection still counts.
  const claims: IdentityClaim[] = [];
  for (const e of entries) if (e.identity) claims.push({ serviceName: e.service.name, identity: e.identity.identity, spiffeId: e.identity.spiffeId });
  for (const s of allServices) {
    if (selected.includes(s) || !isOptedIn(s.labels, prefix)) continue;
    try {
      const { identity, spiffeId } = readServiceIdentity(s, defaults);
      claims.push({ serviceName: s.name, identity, spiffeId });
    } catch {
      /* its own problem, reported when it is selected */
    }
  }
  const conflicts = identityClaimConflicts(claims, prefix);
  for (const e of entries) {
    const reason = e.identity ? conflicts.get(e.service.name) : undefined;
    if (reason === undefined) continue;
    delete e.identity;
    e.error = reason;
  }

  if (p.identities) {
    const wanted = new Set(p.identities);
    entries.splice(0, entries.length, ...entries.filter((e) => e.identity !== undefined && wanted.has(e.identity.identity)));
  }

  const planParams: PlanParams = {
    now: p.now,
    force: p.force,
    issuer: issuerFingerprint(authority),
    renewBefore: config.leaf.renewBefore,
    jitter: config.leaf.jitter,
    lastingIssuers: lastingIssuers(authority, p.now),
  };
  for (const e of entries) {
    if (!e.identity) continue;
    e.generations = generationsOf(secrets.byIdentity.get(e.identity.identity));
    e.attached = readAttached(e.service.secretRefs, e.identity, secrets.byId);
    const bundleCurrent = bundleSecret !== null && e.attached.bundleSecretId === bundleSecret.id;
    e.verdict = planService(
      {
        profile: e.identity.profile,
        attached: e.attached.generation,
        bundleCurrent,
        refsExact: e.attached.exact,
        envoyCurrent: envoyCurrent(e, envoyConfigs),
        generations: e.generations,
        sds: e.identity.sds,
      },
      planParams,
    );
  }
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

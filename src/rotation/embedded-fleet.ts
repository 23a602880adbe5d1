/**
 * Embedded mode's gather: the identities the config lists, what their directories hold (src/store/embedded-files.ts),
 * read into the planner's input — the same `PlanInput` swarm mode builds from service labels and secret labels — and
 * planned by the same `planService`, so both modes re-issue for the same reasons (`settings-changed` included).
 */
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { bundlePem, spiffeIdFor, validateDnsName, validateIdentity, validateUri, type Authority, type KeyAlgorithm } from "../ca/index.js";
import { parseDuration } from "../config/duration.js";
import type { Config } from "../config/load-config.js";
import type { IdentityEntry } from "../config/schema.js";
import { isMtlsError } from "../errors.js";
import { embeddedEnvoySettings, embeddedEnvoyYaml } from "../store/embedded-envoy.js";
import { readStoredIdentity, type StoredGeneration, type StoredIdentity } from "../store/embedded-files.js";
import { generationFromLabels } from "./attachments.js";
import { issuerFingerprint, sha256Hex } from "./fleet.js";
import { planService, type GenerationInfo, type PlanVerdict } from "./plan.js";
import { peerSpiffeId, settingsProfile } from "./service-identity.js";

/** What a configured identity asks for: the embedded counterpart of a service's labels. */
export interface EmbeddedWant {
  identity: string;
  dnsNames: string[];
  /** The SPIFFE ID first, then the identity's extra URIs. */
  uris: string[];
  ttlSeconds: number;
  keyAlgorithm: KeyAlgorithm;
  /** Same hash as swarm mode's profile label: a change means a new certificate. */
  profile: string;
  /** The Envoy bootstrap to write beside the certificates, or null without an `envoy` block. */
  envoyYaml: string | null;
}

/** One configured identity, gathered and judged. */
export interface EmbeddedEntry {
  identity: string;
  /** DATA/certs/<identity>. */
  dir: string;
  /** Absent when the identity's settings are invalid (then `error` says why). */
  want?: EmbeddedWant;
  error?: string;
  /** The generation `current` points to (0: none). */
  current: number;
  /** `current` when its certificate and key are both there, else null (the planner's "attached"). */
  attached: number | null;
  /** The attached generation's ca.crt is the bundle the CA publishes now. */
  bundleCurrent: boolean;
  generations: GenerationInfo[];
  verdict?: PlanVerdict;
}

export interface EmbeddedFleet {
  entries: EmbeddedEntry[];
  /** The trust bundle the CA publishes now. */
  bundlePem: string;
}

/** The directory of an identity's certificates in the file store. */
export const identityDir = (dataDir: string, identity: string): string => join(dataDir, "certs", identity);

/** What a configured identity asks for. Throws bad-input naming the config key. Pure. */
export function embeddedWant(id: IdentityEntry, a: Authority, config: Config, certDir: string): EmbeddedWant {
  const identity = validateIdentity(id.name);
  const dnsNames = [...new Set(id.dns.map(validateDnsName))];
  const spiffeId = spiffeIdFor({ trustDomain: a.trustDomain, identity });
  const uris = [spiffeId, ...id.uris.map(validateUri)];
  const ttlSeconds = id.ttl ? parseDuration(id.ttl, `identities.${id.name}.ttl`) : Math.min(config.seconds.leafTtl, a.maxLeafTtlSeconds);
  const keyAlgorithm = (id.keyAlgorithm || config.leaf.keyAlgorithm || a.defaultKeyAlgorithm) as KeyAlgorithm;
  const settings = embeddedEnvoySettings(id, {
    trustDomain: a.trustDomain,
    certDir,
    spiffeIdOf: (name) => peerSpiffeId(name, { trustDomain: a.trustDomain, stack: null }),
  });
  return {
    identity,
    dnsNames,
    uris,
    ttlSeconds,
    keyAlgorithm,
    profile: settingsProfile({ identity, dnsNames, spiffeId, uris: uris.slice(1), ttlSeconds, keyAlgorithm }),
    envoyYaml: settings ? embeddedEnvoyYaml(settings, `identities.${id.name}.envoy`) : null,
  };
}

/**
 * A stored generation as the planner sees it. labels.json gives it exactly as swarm mode's secret labels do; a
 * directory written before labels.json existed is read from its certificate, with no profile (so it is re-issued
 * once, as `settings-changed`). Null when the certificate is missing or unreadable. Pure.
 */
export function generationInfoOf(g: StoredGeneration, a: Authority): GenerationInfo | null {
  const complete = g.certPem !== null && g.hasKey;
  if (g.labels) return g.certPem === null ? null : generationFromLabels(g.generation, g.labels, complete);
  if (g.certPem === null) return null;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(g.certPem);
  } catch {
    return null;
  }
  const intermediate = new X509Certificate(a.intermediate.certPem);
  const issuedByNow = cert.checkIssued(intermediate) && cert.verify(intermediate.publicKey);
  return {
    generation: g.generation,
    serial: cert.serialNumber.toLowerCase(),
    fingerprint: sha256Hex(new Uint8Array(cert.raw)),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    issuer: issuedByNow ? issuerFingerprint(a) : "",
    profile: "",
    complete,
  };
}

/** Judges one identity from what it wants and what its directory holds. Pure. */
export function planEmbedded(
  base: Pick<EmbeddedEntry, "identity" | "dir" | "want" | "error">,
  stored: StoredIdentity,
  p: { authority: Authority; bundlePem: string; config: Config; now: Date; force: boolean },
): EmbeddedEntry {
  const generations = stored.generations.map((g) => generationInfoOf(g, p.authority)).filter((g): g is GenerationInfo => g !== null);
  const currentInfo = generations.find((g) => g.generation === stored.current);
  const attached = currentInfo?.complete ? stored.current : null;
  const bundleCurrent = stored.generations.find((g) => g.generation === stored.current)?.caPem === p.bundlePem;
  const entry: EmbeddedEntry = { ...base, current: stored.current, attached, bundleCurrent, generations };
  if (!base.want) return entry;
  entry.verdict = planService(
    {
      profile: base.want.profile,
      attached,
      bundleCurrent,
      refsExact: true, // files have no references to get wrong
      envoyCurrent: base.want.envoyYaml === null || stored.envoyYaml === base.want.envoyYaml,
      generations,
    },
    { now: p.now, force: p.force, issuer: issuerFingerprint(p.authority), renewBefore: p.config.leaf.renewBefore, jitter: p.config.leaf.jitter },
  );
  return entry;
}

/** Gathers the configured identities (all, or those named) and plans each. Reads only. */
export async function gatherEmbeddedFleet(p: { dataDir: string; authority: Authority; config: Config; now: Date; force: boolean; identities?: string[] }): Promise<EmbeddedFleet> {
  const bundle = bundlePem(p.authority);
  const selected = p.config.identities.filter((id) => !p.identities || p.identities.includes(id.name));
  const entries = await Promise.all(
    selected.map(async (id) => {
      const dir = identityDir(p.dataDir, id.name);
      let base: Pick<EmbeddedEntry, "identity" | "dir" | "want" | "error">;
      try {
        base = { identity: id.name, dir, want: embeddedWant(id, p.authority, p.config, dir) };
      } catch (e) {
        if (!isMtlsError(e, "bad-input")) throw e;
        base = { identity: id.name, dir, error: e.message };
      }
      return planEmbedded(base, await readStoredIdentity(dir), { ...p, bundlePem: bundle });
    }),
  );
  return { entries, bundlePem: bundle };
}

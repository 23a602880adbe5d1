import type { SecretReference } from "../swarm/docker-types.js";
import { generationOf, LABEL } from "../swarm/managed-labels.js";
import type { SecretRecord } from "../swarm/swarm.js";
import type { GenerationInfo } from "./plan.js";
import type { ServiceIdentity } from "./service-identity.js";

/** Mode of the certificate chain and the trust bundle inside the task: public material, readable by all. */
export const PUBLIC_FILE_MODE = 0o444;

/** The managed secrets of one identity, by generation. */
export interface IdentitySecrets {
  crt: Map<number, SecretRecord>;
  key: Map<number, SecretRecord>;
}

/** Groups managed secrets by identity and kind. Pure. */
export function indexManagedSecrets(secrets: SecretRecord[]): { byIdentity: Map<string, IdentitySecrets>; bundles: SecretRecord[]; byId: Map<string, SecretRecord> } {
  const byIdentity = new Map<string, IdentitySecrets>();
  const bundles: SecretRecord[] = [];
  const byId = new Map<string, SecretRecord>();
  for (const s of secrets) {
    if (s.labels[LABEL.managed] !== "true") continue;
    byId.set(s.id, s);
    const kind = s.labels[LABEL.kind];
    const gen = generationOf(s.labels);
    if (kind === "bundle") {
      if (gen !== null) bundles.push(s);
      continue;
    }
    if ((kind !== "crt" && kind !== "key") || gen === null) continue;
    const identity = s.labels[LABEL.identity] ?? "";
    let entry = byIdentity.get(identity);
    if (!entry) {
      entry = { crt: new Map(), key: new Map() };
      byIdentity.set(identity, entry);
    }
    entry[kind].set(gen, s);
  }
  bundles.sort((a, b) => (generationOf(b.labels) as number) - (generationOf(a.labels) as number));
  return { byIdentity, bundles, byId };
}

/** Reads the generations of an identity from its certificate secrets' labels. Pure. */
export function generationsOf(secrets: IdentitySecrets | undefined): GenerationInfo[] {
  if (!secrets) return [];
  const out: GenerationInfo[] = [];
  for (const [generation, crt] of secrets.crt) {
    const g = generationFromLabels(generation, crt.labels, secrets.key.has(generation));
    if (g) out.push(g);
  }
  return out.sort((a, b) => a.generation - b.generation);
}

/**
 * One generation as the labels of its certificate describe it (the secret's labels in swarm mode, labels.json in
 * embedded mode); null when the dates do not parse (labels edited by hand: not usable). Pure.
 */
export function generationFromLabels(generation: number, l: Record<string, string>, complete: boolean): GenerationInfo | null {
  const notBefore = new Date(l[LABEL.notBefore] ?? "");
  const notAfter = new Date(l[LABEL.notAfter] ?? "");
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return null;
  return {
    generation,
    serial: l[LABEL.serial] ?? "",
    fingerprint: l[LABEL.fingerprint] ?? "",
    notBefore,
    notAfter,
    issuer: l[LABEL.issuer] ?? "",
    profile: l[LABEL.profile] ?? "",
    complete,
  };
}

/** What a service has mounted of ours today. */
export interface AttachedState {
  /** Generation whose certificate and key are both mounted, or null. */
  generation: number | null;
  /** Bundle secret id mounted at the wanted target, or null. */
  bundleSecretId: string | null;
  /** Mounts are exactly what the identity wants (targets, owner, mode; no stray managed mounts). */
  exact: boolean;
  /** Generations referenced in any way (never pruned while referenced). */
  referencedGenerations: Set<number>;
}

/** Reads the service's secret references against the managed secrets. Pure. */
export function readAttached(refs: SecretReference[], want: ServiceIdentity, byId: Map<string, SecretRecord>): AttachedState {
  let crtGen: number | null = null;
  let keyGen: number | null = null;
  let bundleSecretId: string | null = null;
  let exact = true;
  const referenced = new Set<number>();
  for (const ref of refs) {
    const s = ref.SecretID ? byId.get(ref.SecretID) : undefined;
    if (!s) continue;
    const kind = s.labels[LABEL.kind];
    const gen = generationOf(s.labels);
    const f = ref.File ?? {};
    if ((kind === "crt" || kind === "key") && s.labels[LABEL.identity] === want.identity && gen !== null) {
      referenced.add(gen);
      if (kind === "crt") {
        crtGen = gen;
        exact &&= f.Name === want.targets.cert && (f.Mode ?? PUBLIC_FILE_MODE) === PUBLIC_FILE_MODE;
      } else {
        keyGen = gen;
        exact &&= f.Name === want.targets.key && String(f.UID ?? "0") === want.keyFile.uid && String(f.GID ?? "0") === want.keyFile.gid && f.Mode === want.keyFile.mode;
      }
    } else if (kind === "bundle") {
      if (f.Name === want.targets.ca) bundleSecretId = s.id;
      else exact = false;
    } else {
      exact = false; // another identity's secrets mounted here: not ours to keep
    }
  }
  const generation = crtGen !== null && crtGen === keyGen ? crtGen : null;
  if (crtGen !== keyGen) exact = false;
  return { generation, bundleSecretId, exact, referencedGenerations: referenced };
}

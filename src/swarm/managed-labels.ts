import { createHash } from "node:crypto";

/**
 * Names and labels of every Docker object swarm-mtls manages. Secrets can't be read back through the Docker API,
 * so everything the rollout engine needs to know about a managed secret lives in these labels.
 */
export const LABEL = {
  managed: "io.swarm-mtls.managed",
  kind: "io.swarm-mtls.kind",
  identity: "io.swarm-mtls.identity",
  generation: "io.swarm-mtls.generation",
  serial: "io.swarm-mtls.serial",
  notBefore: "io.swarm-mtls.not-before",
  notAfter: "io.swarm-mtls.not-after",
  fingerprint: "io.swarm-mtls.fingerprint",
  issuer: "io.swarm-mtls.issuer",
  /** Hash of the settings the leaf was issued for (names, algorithm, ttl): a change means re-issue. */
  profile: "io.swarm-mtls.profile",
  /** Which CA (its caStateName) published a trust bundle: several CAs may share one swarm. */
  ca: "io.swarm-mtls.ca",
  /** Hash of the key-encryption key (a hash of a 256-bit random key reveals nothing) on the KEK secret / CA state. */
  kekId: "io.swarm-mtls.kek-id",
} as const;

export type ManagedKind = "crt" | "key" | "bundle" | "envoy" | "ca-state" | "ca-pending" | "kek" | "lock";

/** Docker's limit on secret and config names. */
export const MAX_OBJECT_NAME = 64;

/**
 * The part of a managed name that stands for an identity. Long identities are cut and given a hash suffix so that
 * `mtls.<identity>.<kind>.v<generation>` stays within 64 characters for any generation up to 9 digits.
 */
export function identityNamePart(identity: string): string {
  const budget = MAX_OBJECT_NAME - "mtls.".length - ".envoy.v".length - 9;
  if (identity.length <= budget) return identity;
  const hash = createHash("sha256").update(identity).digest("hex").slice(0, 8);
  return `${identity.slice(0, budget - 9)}-${hash}`;
}

/** `mtls.<identity>.crt.v3`, `mtls.<identity>.key.v3`, `mtls.<identity>.envoy.v3`. */
export function identityObjectName(identity: string, kind: "crt" | "key" | "envoy", generation: number): string {
  return `mtls.${identityNamePart(identity)}.${kind}.v${generation}`;
}

/** `mtls.bundle.v<N>` (trust bundle), `mtls.ca-state.v<N>` (CA state config). */
export function sharedObjectName(kind: "bundle" | "ca-state", generation: number): string {
  return `mtls.${kind}.v${generation}`;
}

export function managedLabels(kind: ManagedKind, extra: Record<string, string | number | undefined> = {}): Record<string, string> {
  const labels: Record<string, string> = { [LABEL.managed]: "true", [LABEL.kind]: kind };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) labels[k] = String(v);
  return labels;
}

/** What one issued leaf certificate is, as labels: on its `crt` and `key` secrets (and, see below, its Envoy config). */
export interface CertificateLabelParams {
  identity: string;
  generation: number;
  serial: string;
  notBefore: Date | string;
  notAfter: Date | string;
  /** SHA-256 of the leaf certificate. */
  fingerprint: string;
  /** Fingerprint of the issuing intermediate. */
  issuer: string;
  /** Hash of the settings the leaf was issued for. */
  profile?: string;
}

const iso = (d: Date | string): string => (typeof d === "string" ? d : d.toISOString());

/** The labels of a leaf's `crt` and `key` secrets (pass them to managedLabels with the kind). */
export function certificateLabels(p: CertificateLabelParams): Record<string, string | number | undefined> {
  return {
    [LABEL.identity]: p.identity,
    [LABEL.generation]: p.generation,
    [LABEL.serial]: p.serial,
    [LABEL.notBefore]: iso(p.notBefore),
    [LABEL.notAfter]: iso(p.notAfter),
    [LABEL.fingerprint]: p.fingerprint,
    [LABEL.issuer]: p.issuer,
    [LABEL.profile]: p.profile,
  };
}

/**
 * The labels of an Envoy config published next to a certificate: the certificate's serial, validity and issuer (as its
 * secrets carry them, read from the `crt` secret's labels), with the config's own identity, generation and
 * fingerprint (SHA-256 of the bootstrap: a config is re-published only when its content changes, so these certificate
 * labels name the certificate it was first published with).
 */
export function envoyConfigLabels(crtLabels: Record<string, string>, p: { identity: string; generation: number; fingerprint: string }): Record<string, string> {
  return managedLabels("envoy", {
    [LABEL.serial]: crtLabels[LABEL.serial],
    [LABEL.notBefore]: crtLabels[LABEL.notBefore],
    [LABEL.notAfter]: crtLabels[LABEL.notAfter],
    [LABEL.issuer]: crtLabels[LABEL.issuer],
    [LABEL.identity]: p.identity,
    [LABEL.generation]: p.generation,
    [LABEL.fingerprint]: p.fingerprint,
  });
}

/** The generation recorded on a managed object, or null when the labels don't carry a valid one. */
export function generationOf(labels: Record<string, string> | undefined): number | null {
  const g = Number(labels?.[LABEL.generation]);
  return Number.isSafeInteger(g) && g > 0 ? g : null;
}

export function isManaged(labels: Record<string, string> | undefined, kind?: ManagedKind): boolean {
  return labels?.[LABEL.managed] === "true" && (kind === undefined || labels[LABEL.kind] === kind);
}

/** Label of the KEK: first 16 hex of SHA-256("swarm-mtls kek id" || kek). Identifies a KEK without revealing it. */
export function kekId(kek: Uint8Array): string {
  return createHash("sha256").update("swarm-mtls kek id\n").update(kek).digest("hex").slice(0, 16);
}

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

export type ManagedKind = "crt" | "key" | "bundle" | "envoy" | "ca-state" | "kek" | "lock";

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

/**
 * The CA rotation record kept in the CA state (top-level fields `rotation` and `retired`, carried through
 * sealAuthority/openAuthority as extra state): which phase a `rotate-ca` reached, the new CA certificates with their
 * keys sealed under the key-encryption key like every other CA key, and the retired CA certificates (keys destroyed)
 * for audit. Reading the record for display needs no KEK; opening the new keys does.
 */
import { randomBytes } from "node:crypto";
import { caKeyPairFrom, certFingerprint, openCaEntry, sealCaEntry, type Authority, type CaKeyPair, type SealedCaEntry } from "../ca/index.js";
import { badInput } from "../errors.js";

export const CA_ROTATION_KINDS = ["intermediate", "root"] as const;
export type CaRotationKind = (typeof CA_ROTATION_KINDS)[number];
/** The phase a rotation has finished. */
export const CA_ROTATION_PHASES = ["prepared", "trusted", "issued", "complete"] as const;
export type CaRotationPhase = (typeof CA_ROTATION_PHASES)[number];

/** The rotation as stored (JSON inside the CA state). */
export interface CaRotationRecord {
  id: string;
  kind: CaRotationKind;
  phase: CaRotationPhase;
  startedAt: string;
  /** Fingerprint and certificate of the intermediate being replaced (its key leaves the state when issuing switches). */
  oldIntermediate: { fingerprint: string; certPem: string };
  /** Root kind: fingerprint of the root being replaced. */
  oldRoot?: string;
  /**
   * Root kind: the certificate of the root being replaced, kept for the `retired` list: a run killed in retire after
   * the authority without the old root was written must still retire it (absent in records of older versions).
   */
  oldRootCertPem?: string;
  /** The new intermediate; its key sealed under the KEK (dropped from here once complete: it lives in `intermediate`). */
  newIntermediate: SealedCaEntry;
  /** Root kind: the new root, key sealed. */
  newRoot?: SealedCaEntry;
  /** Root kind: the new root's subject and key certified by the old root (sent in leaf chains while both are trusted). */
  crossCertPem?: string;
  history: { phase: CaRotationPhase; at: string }[];
}

/** A CA certificate taken out of service by a rotation; its key is destroyed, the certificate kept for audit. */
export interface RetiredCa {
  role: "root" | "intermediate";
  certPem: string;
  fingerprint: string;
  retiredAt: string;
  rotationId: string;
}

/** A rotation with its certificates parsed and keys opened. */
export interface CaRotation {
  record: CaRotationRecord;
  newIntermediate: CaKeyPair;
  newRoot?: CaKeyPair;
  cross?: CaKeyPair;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const malformed = (why: string): Error => badInput(`the CA state is malformed: rotation ${why}`);

/** The rotation record of the CA state, validated, or null when no rotation was ever started. Needs no KEK. */
export function readCaRotationRecord(a: Authority): CaRotationRecord | null {
  const v = a.extraState?.rotation;
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw malformed("is not an object");
  if (typeof v.id !== "string") throw malformed("has no id");
  if (!CA_ROTATION_KINDS.includes(v.kind as CaRotationKind)) throw malformed(`kind '${String(v.kind)}' is unknown`);
  if (!CA_ROTATION_PHASES.includes(v.phase as CaRotationPhase)) throw malformed(`phase '${String(v.phase)}' is unknown`);
  if (!isObject(v.oldIntermediate) || typeof v.oldIntermediate.fingerprint !== "string" || typeof v.oldIntermediate.certPem !== "string") throw malformed("has no oldIntermediate");
  if (!isObject(v.newIntermediate) || typeof v.newIntermediate.certPem !== "string") throw malformed("has no newIntermediate");
  if (v.kind === "root" && (!isObject(v.newRoot) || typeof v.crossCertPem !== "string" || typeof v.oldRoot !== "string")) throw malformed("of the root has no newRoot, oldRoot or crossCertPem");
  if (v.oldRootCertPem !== undefined && typeof v.oldRootCertPem !== "string") throw malformed("oldRootCertPem is not a PEM string");
  if (!Array.isArray(v.history)) throw malformed("has no history");
  return v as unknown as CaRotationRecord;
}

/** The retired CA certificates of the CA state (oldest first). */
export function readRetiredCas(a: Authority): RetiredCa[] {
  const v = a.extraState?.retired;
  return Array.isArray(v) ? (v.filter((x) => isObject(x) && typeof x.certPem === "string") as RetiredCa[]) : [];
}

/** Opens the record's certificates and (with the KEK) the new keys. Keys stay absent once the rotation is complete. */
export function openCaRotation(record: CaRotationRecord, kek: Uint8Array): CaRotation {
  const done = record.phase === "complete";
  const r: CaRotation = { record, newIntermediate: openCaEntry(record.newIntermediate, "rotation.newIntermediate", kek, { keyRequired: !done }) };
  if (record.newRoot) r.newRoot = openCaEntry(record.newRoot, "rotation.newRoot", kek, { keyRequired: false });
  if (record.crossCertPem) r.cross = caKeyPairFrom(record.crossCertPem);
  return r;
}

/** Starts a record for freshly made certificates (phase `prepared`). */
export function newCaRotationRecord(p: {
  kind: CaRotationKind;
  oldIntermediate: CaKeyPair;
  oldRoot?: CaKeyPair;
  newIntermediate: CaKeyPair;
  newRoot?: CaKeyPair;
  cross?: CaKeyPair;
  kek: Uint8Array;
  now: Date;
}): CaRotationRecord {
  const at = p.now.toISOString();
  const record: CaRotationRecord = {
    id: `${at.slice(0, 10).replaceAll("-", "")}-${randomBytes(3).toString("hex")}`,
    kind: p.kind,
    phase: "prepared",
    startedAt: at,
    oldIntermediate: { fingerprint: certFingerprint(p.oldIntermediate), certPem: p.oldIntermediate.certPem },
    newIntermediate: sealCaEntry(p.newIntermediate, p.kek),
    history: [{ phase: "prepared", at }],
  };
  if (p.oldRoot) {
    record.oldRoot = certFingerprint(p.oldRoot);
    record.oldRootCertPem = p.oldRoot.certPem;
  }
  if (p.newRoot) record.newRoot = sealCaEntry(p.newRoot, p.kek);
  if (p.cross) record.crossCertPem = p.cross.certPem;
  return record;
}

/** The record moved to `phase` at `now` (a new object; history grows by one). Complete drops the sealed keys. */
export function advanceCaRotationRecord(r: CaRotationRecord, phase: CaRotationPhase, now: Date): CaRotationRecord {
  const next: CaRotationRecord = { ...r, phase, history: [...r.history, { phase, at: now.toISOString() }] };
  if (phase === "complete") {
    next.newIntermediate = { certPem: r.newIntermediate.certPem };
    if (r.newRoot) next.newRoot = { certPem: r.newRoot.certPem };
  }
  return next;
}

/** The authority with this rotation record (and retired list) in its extra state. Pure. */
export function withCaRotationRecord(a: Authority, record: CaRotationRecord, retired?: RetiredCa[]): Authority {
  const extraState: Record<string, unknown> = { ...(a.extraState ?? {}), rotation: record };
  if (retired !== undefined) extraState.retired = retired;
  return { ...a, extraState };
}

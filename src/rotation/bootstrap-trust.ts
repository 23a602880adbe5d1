/**
 * Which trust bundle (`ca.crt`) a service's Swarm secrets must carry, and so which services a step of a CA rotation
 * must update. A file-mounted service verifies its peers with `ca.crt`, so it always follows the bundle the CA
 * publishes (all three phases of a root rotation restart it). An SDS-mode service uses `ca.crt` for one thing only:
 * verifying the CA's SDS listener (its peers are verified against the bundle pushed over SDS). Its `ca.crt` changes
 * only when it no longer verifies the listener's chain, which is issued by the current intermediate (with the cross
 * certificate behind it while a root rotation issues): so a root rotation leaves it alone in the trust phase (the
 * listener still chains to the old root), re-issues the bootstrap in the issue phase (its issuer's root is leaving;
 * that update mounts the bundle with both roots), and leaves that two-root `ca.crt` in place at retire (it holds the
 * new root) until the bootstrap's normal renewal. Pure; the adapter (fleet.ts) reads the labels.
 */
import { createHash, X509Certificate } from "node:crypto";
import type { Authority } from "../ca/index.js";
import { readCaRotationRecord, readRetiredCas } from "./ca-rotation-record.js";

const fpOfPem = (pem: string): string => createHash("sha256").update(new X509Certificate(pem).raw).digest("hex");

/**
 * Fingerprints of the roots of `a` that a certificate it issues now verifies to: the root that signed the
 * intermediate and, through a certificate of the chain it sends (the cross certificate of a root rotation in its
 * issue phase), the root that signed that one. Pure.
 */
export function issuingRoots(a: Authority): string[] {
  const chain = [a.intermediate, ...(a.chain ?? [])].map((c) => new X509Certificate(c.certPem));
  return a.roots
    .filter((r) => {
      const root = new X509Certificate(r.certPem);
      return chain.some((c) => c.checkIssued(root) && c.verify(root.publicKey));
    })
    .map((r) => fpOfPem(r.certPem));
}

/** A root a mounted bundle may hold: its fingerprint and PEM. */
export interface KnownRoot {
  fingerprint: string;
  pem: string;
}

/**
 * The roots the CA knows of, to recognise what an older bundle secret holds: the roots it trusts now, the root a
 * root rotation is replacing, and the retired ones. Pure.
 */
export function knownRoots(a: Authority): KnownRoot[] {
  const record = readCaRotationRecord(a);
  const pems = [...a.roots.map((r) => r.certPem), ...(record?.oldRootCertPem ? [record.oldRootCertPem] : []), ...readRetiredCas(a).filter((x) => x.role === "root").map((x) => x.certPem)];
  const out = new Map<string, KnownRoot>();
  for (const pem of pems) {
    const fingerprint = fpOfPem(pem);
    if (!out.has(fingerprint)) out.set(fingerprint, { fingerprint, pem });
  }
  return [...out.values()];
}

/**
 * The roots a bundle secret holds, from its fingerprint label (SHA-256 of the PEM the CA published: its roots,
 * concatenated in order): matched against every one- and two-root bundle of the known roots. Null when it is none of
 * them (then nothing is assumed about it). Pure.
 */
export function bundleRoots(bundleFingerprint: string | undefined, known: readonly KnownRoot[]): string[] | null {
  if (!bundleFingerprint) return null;
  const sha = (s: string): string => createHash("sha256").update(s).digest("hex");
  for (const a of known) {
    if (sha(a.pem) === bundleFingerprint) return [a.fingerprint];
    for (const b of known) if (b !== a && sha(a.pem + b.pem) === bundleFingerprint) return [a.fingerprint, b.fingerprint];
  }
  return null;
}

/** One service's mounted trust bundle, as the planner sees it. */
export interface MountedBundle {
  /** The service is in SDS mode (`mtls.sds=true`): its `ca.crt` only verifies the CA's SDS listener. */
  sds: boolean;
  /** It mounts the bundle the CA publishes now. */
  current: boolean;
  /** Fingerprints of the roots it holds; null when not known (then only the current bundle will do). */
  roots: readonly string[] | null;
}

/**
 * Whether the service's Swarm secrets must be updated for its trust bundle: a file-mounted service whenever it does
 * not mount the current bundle; an SDS-mode service only when its bundle holds none of the roots the CA's certificates
 * verify to now (`issuingRoots`), i.e. its sidecar could no longer verify the SDS listener. Pure.
 */
export function trustBundleMustChange(m: MountedBundle, issuing: readonly string[]): boolean {
  if (m.current) return false;
  if (!m.sds || m.roots === null) return true;
  return !m.roots.some((r) => issuing.includes(r));
}

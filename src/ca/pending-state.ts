/**
 * The pending intermediate as the store keeps it between `init --intermediate-csr` and `init --import-intermediate`:
 * the CSR in the clear, the key sealed under the key-encryption key like the CA state's keys (AES-256-GCM, bound to
 * the CSR's digest), the whole document authenticated with the CA state's MAC. It is not a CA state: nothing reads it
 * but the import, and a store holding only a pending intermediate has no CA yet.
 */
import { createHash, createPublicKey } from "node:crypto";
import { badInput, printable } from "../errors.js";
import { authenticateCaStateDocument, openSealedPrivateKey, sealPrivateKey, verifyAuthenticatedDocument } from "./ca-state.js";
import { parseKeyAlgorithm, validateTrustDomain } from "./names.js";
import type { PendingIntermediate } from "./upstream.js";
import { x509 } from "./x509.js";

export const PENDING_FORMAT = "swarm-mtls/pending-intermediate";
export const PENDING_VERSION = 1;
const WHAT = "the pending intermediate";

const aadOf = (csrPem: string): string => `${PENDING_FORMAT} ${createHash("sha256").update(csrPem.trim()).digest("hex")}`;

/** The pending intermediate as a document for the store, its key sealed under the KEK. Pure apart from randomness. */
export function sealPendingIntermediate(p: PendingIntermediate, kek: Uint8Array): string {
  return authenticateCaStateDocument({
    format: PENDING_FORMAT,
    version: PENDING_VERSION,
    trustDomain: p.trustDomain,
    name: p.name,
    defaultKeyAlgorithm: p.defaultKeyAlgorithm,
    maxLeafTtlSeconds: p.maxLeafTtlSeconds,
    csrPem: p.csrPem,
    key: sealPrivateKey(p.privateKey, aadOf(p.csrPem), kek),
    createdAt: p.createdAt.toISOString(),
  }, kek);
}

const malformed = (why: string): Error => badInput(`${WHAT} in the store is malformed: ${why}`);

/** Opens a stored pending intermediate with the KEK: MAC checked, key opened and matched with the CSR's public key. */
export function openPendingIntermediate(doc: string, kek: Uint8Array): PendingIntermediate {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(doc) as Record<string, unknown>;
  } catch {
    throw malformed("not JSON");
  }
  if (parsed.format !== PENDING_FORMAT || parsed.version !== PENDING_VERSION) {
    throw malformed(`format ${printable(parsed.format)} version ${printable(parsed.version)}, expected ${PENDING_FORMAT} version ${PENDING_VERSION}`);
  }
  verifyAuthenticatedDocument(parsed, kek, WHAT);
  const { csrPem, maxLeafTtlSeconds: max, name } = parsed;
  if (typeof csrPem !== "string") throw malformed("csrPem is missing");
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max <= 0) throw malformed("maxLeafTtlSeconds is not a positive integer");
  const createdAt = new Date(typeof parsed.createdAt === "string" ? parsed.createdAt : Number.NaN);
  if (Number.isNaN(createdAt.getTime())) throw malformed("createdAt is not a date");
  const privateKey = openSealedPrivateKey(parsed.key, aadOf(csrPem), kek, WHAT);
  const csrSpki = Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData);
  if (!csrSpki.equals(createPublicKey(privateKey).export({ type: "spki", format: "der" }))) throw malformed("the key does not belong to its CSR");
  return {
    trustDomain: validateTrustDomain(String(parsed.trustDomain)),
    name: typeof name === "string" ? name : "swarm-mtls",
    defaultKeyAlgorithm: parseKeyAlgorithm(String(parsed.defaultKeyAlgorithm)),
    maxLeafTtlSeconds: max,
    csrPem,
    privateKey,
    createdAt,
  };
}

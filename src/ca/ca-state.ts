/**
 * The CA state document: CA certificates in the clear, every CA private key as PKCS#8 sealed with AES-256-GCM, and
 * the whole document authenticated with HMAC-SHA256. Three subkeys are derived from the key-encryption key with
 * HKDF-SHA256 (one for sealing keys, one for the document MAC, one for the KEK check value), so no key serves two
 * purposes. The additional authenticated data of each sealed key is its certificate's fingerprint, so keys cannot be
 * swapped between entries. The MAC covers every field (roots, chain, trust domain, maximum TTL, rotation record, …)
 * in a canonical form: a document changed outside swarm-mtls does not open. Top-level fields this version does not
 * know are carried through open → seal (and are authenticated like the rest).
 *
 * Version 1 (swarm-mtls before the MAC) authenticated only the keys; it opens only when the caller asks to migrate
 * it (see openAuthority), and sealing always writes version 2.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  X509Certificate as NodeX509Certificate,
  type KeyObject,
} from "node:crypto";
import { badInput, MtlsError, printable } from "../errors.js";

import { caKeyPairFrom, certFingerprint } from "./authority.js";
import { KEK_BYTES } from "./kek.js";
import { parseKeyAlgorithm, validateTrustDomain } from "./names.js";
import type { Authority, CaKeyPair } from "./types.js";

export const CA_STATE_FORMAT = "swarm-mtls/ca-state";
export const CA_STATE_VERSION = 2;
/** The unauthenticated format of earlier versions: opens only to be migrated. */
export const LEGACY_CA_STATE_VERSION = 1;

/** One sealed private key. */
export interface SealedKey {
  alg: "A256GCM";
  /** base64, 12 bytes. */
  iv: string;
  /** base64, 16 bytes. */
  tag: string;
  /** base64 of the encrypted PKCS#8 DER. */
  ct: string;
}

/** One CA certificate in the state, with its sealed key when the key is online. */
export interface SealedCaEntry {
  certPem: string;
  key?: SealedKey;
}

/** The CA state document (JSON). */
export interface CaStateDocument {
  format: typeof CA_STATE_FORMAT;
  version: typeof CA_STATE_VERSION;
  trustDomain: string;
  name: string;
  defaultKeyAlgorithm: string;
  maxLeafTtlSeconds: number;
  /** HMAC-SHA256(check subkey, "swarm-mtls/ca-state kek-check"), base64: tells a wrong KEK from a changed document. */
  kekCheck: string;
  /** HMAC-SHA256(MAC subkey, canonical JSON of every other field), base64. */
  mac: string;
  roots: SealedCaEntry[];
  intermediate: SealedCaEntry;
  /** Extra chain certificates (PEM) sent after the intermediate in leaf chains; absent when none. */
  chain?: string[];
  createdAt: string;
  [extra: string]: unknown;
}

const KNOWN_FIELDS = new Set([
  "format", "version", "trustDomain", "name", "defaultKeyAlgorithm", "maxLeafTtlSeconds", "kekCheck", "roots",
  "intermediate", "createdAt", "chain", "mac",
]);

const WRONG_KEK = "the key-encryption key does not open this CA state (wrong --kek-file?)";

function checkKek(kek: Uint8Array): Buffer {
  if (!(kek instanceof Uint8Array) || kek.length !== KEK_BYTES) {
    throw new MtlsError("kek", `the key-encryption key must be ${KEK_BYTES} bytes`);
  }
  return Buffer.from(kek);
}

const TAMPERED =
  "the CA state does not verify: it was changed outside swarm-mtls (a root, the chain, the trust domain, the maximum TTL or another field edited?); refusing it, nothing was changed";

/** The subkeys of one KEK; version 1 documents sealed keys under the KEK itself. */
interface Subkeys {
  seal: Buffer;
  mac: Buffer;
  check: Buffer;
  legacy: Buffer;
}

const subkey = (kek: Buffer, purpose: string): Buffer =>
  Buffer.from(hkdfSync("sha256", kek, Buffer.from("swarm-mtls/ca-state"), Buffer.from(`swarm-mtls/ca-state ${purpose} v2`), 32));

function subkeysOf(kek: Uint8Array): Subkeys {
  const k = checkKek(kek);
  return { seal: subkey(k, "seal"), mac: subkey(k, "mac"), check: subkey(k, "kek-check"), legacy: k };
}

const kekCheckOf = (key: Buffer): Buffer => createHmac("sha256", key).update("swarm-mtls/ca-state kek-check").digest();

/** JSON with object keys sorted at every level: the bytes the MAC is computed over. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

const macOf = (doc: Record<string, unknown>, key: Buffer): Buffer => {
  const { mac: _mac, ...rest } = doc;
  return createHmac("sha256", key).update(canonicalJson(rest)).digest();
};

/**
 * Sets `mac` (and `kekCheck`) of a parsed CA state document under the KEK: what sealAuthority does last. For tools
 * that change a state on purpose (tests that build edge cases); the result opens like any sealed state.
 */
export function authenticateCaStateDocument(doc: Record<string, unknown>, kek: Uint8Array): string {
  const keys = subkeysOf(kek);
  const out: Record<string, unknown> = { ...doc, kekCheck: kekCheckOf(keys.check).toString("base64") };
  delete out.mac;
  out.mac = macOf(out, keys.mac).toString("base64");
  return `${JSON.stringify(out, null, 2)}\n`;
}

function sealKey(key: KeyObject, fingerprint: string, sealKeyBytes: Buffer): SealedKey {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealKeyBytes, iv);
  cipher.setAAD(Buffer.from(fingerprint, "utf8"));
  const ct = Buffer.concat([cipher.update(key.export({ type: "pkcs8", format: "der" })), cipher.final()]);
  return { alg: "A256GCM", iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), ct: ct.toString("base64") };
}

/** Seals a private key that has no certificate yet under the KEK, bound to `aad` (a pending intermediate's key). */
export function sealPrivateKey(key: KeyObject, aad: string, kek: Uint8Array): SealedKey {
  return sealKey(key, aad, subkeysOf(kek).seal);
}

/** Opens a key sealed by sealPrivateKey with the same `aad`; a wrong KEK or a changed key fails. */
export function openSealedPrivateKey(v: unknown, aad: string, kek: Uint8Array, where: string): KeyObject {
  const sealed = readSealedKey(v, where);
  const iv = Buffer.from(sealed.iv, "base64");
  const tag = Buffer.from(sealed.tag, "base64");
  if (iv.length !== 12 || tag.length !== 16) throw malformed(`${where}.key has a bad iv or tag length`);
  const der = decryptKey(sealed, iv, tag, aad, [subkeysOf(kek).seal], where);
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch (e) {
    throw malformed(`the key of ${where} is not PKCS#8`, e);
  }
}

/**
 * Checks the KEK check value and the MAC that authenticateCaStateDocument set on a document of any format: a wrong
 * KEK is MtlsError("kek"), a changed document bad input.
 */
export function verifyAuthenticatedDocument(parsed: Record<string, unknown>, kek: Uint8Array, what: string): void {
  const keys = subkeysOf(kek);
  if (typeof parsed.kekCheck === "string" && !sameBytes(parsed.kekCheck, kekCheckOf(keys.check))) {
    throw new MtlsError("kek", `the key-encryption key does not open ${what} (wrong --kek-file?)`);
  }
  if (!sameBytes(parsed.mac, macOf(parsed, keys.mac))) throw badInput(`${what} does not verify: it was changed outside swarm-mtls; refusing it, nothing was changed`);
}

/** Seals one CA certificate and its key (when online) under the KEK: for CA records kept beside the authority. */
export function sealCaEntry(pair: CaKeyPair, kek: Uint8Array): SealedCaEntry {
  return sealEntry(pair, subkeysOf(kek).seal);
}

/** Opens one sealed CA entry; `where` names it in errors. A wrong KEK or a swapped key fails. */
export function openCaEntry(entry: unknown, where: string, kek: Uint8Array, p: { keyRequired: boolean }): CaKeyPair {
  const keys = subkeysOf(kek);
  // Records written by version 1 sealed under the KEK itself: they open too (the document MAC vouches for them).
  return openEntry(entry, where, [keys.seal, keys.legacy], p.keyRequired);
}

function sealEntry(pair: CaKeyPair, sealKeyBytes: Buffer): SealedCaEntry {
  const entry: SealedCaEntry = { certPem: pair.certPem };
  if (pair.privateKey !== undefined) entry.key = sealKey(pair.privateKey, certFingerprint(pair), sealKeyBytes);
  return entry;
}

/** Serialises an authority with every private key sealed under the KEK. Returns JSON text. */
export function sealAuthority(a: Authority, kek: Uint8Array): string {
  const keys = subkeysOf(kek);
  const doc: Omit<CaStateDocument, "mac" | "kekCheck"> = {
    ...(a.extraState ?? {}),
    format: CA_STATE_FORMAT,
    version: CA_STATE_VERSION,
    trustDomain: a.trustDomain,
    name: a.name,
    defaultKeyAlgorithm: a.defaultKeyAlgorithm,
    maxLeafTtlSeconds: a.maxLeafTtlSeconds,
    roots: a.roots.map((r) => sealEntry(r, keys.seal)),
    intermediate: sealEntry(a.intermediate, keys.seal),
    createdAt: a.createdAt.toISOString(),
  };
  if (a.chain && a.chain.length > 0) doc.chain = a.chain.map((c) => c.certPem);
  return authenticateCaStateDocument(doc, kek);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const malformed = (why: string, cause?: unknown): MtlsError => badInput(`the CA state is malformed: ${why}`, cause);

function readSealedKey(v: unknown, where: string): SealedKey {
  if (!isObject(v) || v.alg !== "A256GCM" || typeof v.iv !== "string" || typeof v.tag !== "string" || typeof v.ct !== "string") {
    throw malformed(`${where}.key is not an A256GCM sealed key`);
  }
  return { alg: "A256GCM", iv: v.iv, tag: v.tag, ct: v.ct };
}

/** The certificate of a CA-state entry (no key yet); malformed when certPem is missing or not a certificate. */
function entryCertificate(v: Record<string, unknown>, where: string): CaKeyPair {
  if (typeof v.certPem !== "string") throw malformed(`${where} has no certPem`);
  try {
    return caKeyPairFrom(v.certPem);
  } catch (e) {
    throw malformed(`${where}.certPem is not a certificate`, e);
  }
}

/** Opens an entry; the key is tried under each of `sealKeys` in turn (current subkey first, then the legacy KEK). */
function openEntry(v: unknown, where: string, sealKeys: Buffer[], keyRequired: boolean): CaKeyPair {
  if (!isObject(v)) throw malformed(`${where} has no certPem`);
  const pair = entryCertificate(v, where);
  if (v.key === undefined) {
    if (keyRequired) throw malformed(`${where} has no key`);
    return pair;
  }
  const sealed = readSealedKey(v.key, where);
  const iv = Buffer.from(sealed.iv, "base64");
  const tag = Buffer.from(sealed.tag, "base64");
  if (iv.length !== 12 || tag.length !== 16) throw malformed(`${where}.key has a bad iv or tag length`);
  const der = decryptKey(sealed, iv, tag, certFingerprint(pair), sealKeys, where);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch (e) {
    throw malformed(`the key of ${where} is not PKCS#8`, e);
  }
  const certSpki = new NodeX509Certificate(pair.certPem).publicKey.export({ type: "spki", format: "der" });
  const keySpki = createPublicKeyFrom(key);
  if (!certSpki.equals(keySpki)) throw malformed(`the key of ${where} does not belong to its certificate`);
  pair.privateKey = key;
  return pair;
}

function decryptKey(sealed: SealedKey, iv: Buffer, tag: Buffer, fingerprint: string, sealKeys: Buffer[], where: string): Buffer {
  let last: unknown;
  for (const k of sealKeys) {
    try {
      const decipher = createDecipheriv("aes-256-gcm", k, iv);
      decipher.setAAD(Buffer.from(fingerprint, "utf8"));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(sealed.ct, "base64")), decipher.final()]);
    } catch (e) {
      last = e;
    }
  }
  throw new MtlsError("bad-input", `the CA state is damaged: the key of ${where} does not decrypt (tampered or swapped?)`, { cause: last });
}

const createPublicKeyFrom = (key: KeyObject): Buffer => createPublicKey(key).export({ type: "spki", format: "der" });

export interface AuthorityOpenParams {
  /**
   * Opens a version 1 document (unauthenticated apart from its keys) so the caller can re-seal it as version 2 at
   * once. Default false: a version 1 document is refused.
   */
  migrateLegacy?: boolean;
}

/** The format version of a CA state document, or null when it is not one (the open reports why). */
export function caStateVersion(doc: string): number | null {
  try {
    const v = (JSON.parse(doc) as { version?: unknown }).version;
    return typeof v === "number" ? v : null;
  } catch {
    return null;
  }
}

const sameBytes = (given: unknown, expected: Buffer): boolean => {
  if (typeof given !== "string") return false;
  const g = Buffer.from(given, "base64");
  return g.length === expected.length && timingSafeEqual(g, expected);
};

/** Checks the document's KEK check value and MAC (version 2) or its KEK check value alone (version 1, migrating). */
function verifyDocument(parsed: Record<string, unknown>, keys: Subkeys, migrateLegacy: boolean): void {
  if (parsed.version === LEGACY_CA_STATE_VERSION) {
    if (!migrateLegacy) {
      throw badInput(
        "the CA state is in the unauthenticated format of earlier swarm-mtls versions (version 1): open it once with `swarm-mtls ca show` or `serve` on the store to migrate it, or restore the backup with --accept-unauthenticated after checking its root fingerprints",
      );
    }
    if (typeof parsed.kekCheck === "string" && !sameBytes(parsed.kekCheck, kekCheckOf(keys.legacy))) throw new MtlsError("kek", WRONG_KEK);
    return;
  }
  if (parsed.version !== CA_STATE_VERSION) {
    throw malformed(`version ${printable(parsed.version)} is not supported by this swarm-mtls (supports ${LEGACY_CA_STATE_VERSION} and ${CA_STATE_VERSION})`);
  }
  if (typeof parsed.kekCheck === "string" && !sameBytes(parsed.kekCheck, kekCheckOf(keys.check))) throw new MtlsError("kek", WRONG_KEK);
  if (!sameBytes(parsed.mac, macOf(parsed, keys.mac))) throw badInput(TAMPERED);
}

function parseDocument(doc: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(doc);
  } catch (e) {
    throw malformed("not JSON", e);
  }
  if (!isObject(parsed)) throw malformed("not a JSON object");
  if (parsed.format !== CA_STATE_FORMAT) throw malformed(`format is '${printable(parsed.format)}', expected '${CA_STATE_FORMAT}'`);
  return parsed;
}

/**
 * Opens a CA state document with the KEK. Version 2: the MAC must verify over the whole document, else
 * MtlsError("bad-input") and nothing is returned. Version 1 opens only with `migrateLegacy`.
 */
export async function openAuthority(doc: string, kek: Uint8Array, p: AuthorityOpenParams = {}): Promise<Authority> {
  const keys = subkeysOf(kek);
  const parsed = parseDocument(doc);
  verifyDocument(parsed, keys, p.migrateLegacy === true);
  const sealKeys = parsed.version === LEGACY_CA_STATE_VERSION ? [keys.legacy] : [keys.seal];
  return authorityFrom(parsed, (v, where, keyRequired) => {
    try {
      return openEntry(v, where, sealKeys, keyRequired);
    } catch (e) {
      // A version 1 document without a KEK check value: a failed decryption most likely means the wrong KEK.
      if (typeof parsed.kekCheck !== "string" && e instanceof MtlsError && e.message.includes("does not decrypt")) {
        throw new MtlsError("kek", WRONG_KEK, { cause: e });
      }
      throw e;
    }
  });
}

/**
 * The public part of a CA state document, read WITHOUT the KEK: certificates, trust domain, limits, rotation record.
 * No private key is opened (each entry says only whether a sealed key is there: `keySealed`) and the document MAC
 * cannot be checked without the KEK, so what this returns is NOT authenticated: for read-only display (`status`,
 * `ca show`, `envoy`), never for signing or for deciding what to trust. Any document version is read.
 */
export function readPublicAuthority(doc: string): Authority {
  const parsed = parseDocument(doc);
  if (parsed.version !== LEGACY_CA_STATE_VERSION && parsed.version !== CA_STATE_VERSION) {
    throw malformed(`version ${printable(parsed.version)} is not supported by this swarm-mtls (supports ${LEGACY_CA_STATE_VERSION} and ${CA_STATE_VERSION})`);
  }
  return authorityFrom(parsed, (v, where) => {
    if (!isObject(v)) throw malformed(`${where} has no certPem`);
    const pair = entryCertificate(v, where);
    if (v.key !== undefined) pair.keySealed = true;
    return pair;
  });
}

type EntryOpener = (v: unknown, where: string, keyRequired: boolean) => CaKeyPair;

/** Reads every field of a (verified or public) document into an Authority, opening CA entries with `open`. */
function authorityFrom(parsed: Record<string, unknown>, open: EntryOpener): Authority {
  if (typeof parsed.trustDomain !== "string") throw malformed("trustDomain is missing");
  const trustDomain = validateTrustDomain(parsed.trustDomain);
  const defaultKeyAlgorithm = parseKeyAlgorithm(String(parsed.defaultKeyAlgorithm));
  const max = parsed.maxLeafTtlSeconds;
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max <= 0) throw malformed("maxLeafTtlSeconds is not a positive integer");
  if (!Array.isArray(parsed.roots) || parsed.roots.length === 0) throw malformed("roots is empty");
  const createdAt = new Date(typeof parsed.createdAt === "string" ? parsed.createdAt : Number.NaN);
  if (Number.isNaN(createdAt.getTime())) throw malformed("createdAt is not a date");

  const roots = parsed.roots.map((r, i) => open(r, `roots[${i}]`, false));
  const intermediate = open(parsed.intermediate, "intermediate", true);
  const intermediateNode = new NodeX509Certificate(intermediate.certPem);
  const signer = roots.find((r) => {
    const root = new NodeX509Certificate(r.certPem);
    return intermediateNode.checkIssued(root) && intermediateNode.verify(root.publicKey);
  });
  if (signer === undefined) throw malformed("the intermediate is not signed by any of the roots");

  let chain: CaKeyPair[] = [];
  if (parsed.chain !== undefined) {
    if (!Array.isArray(parsed.chain) || !parsed.chain.every((c) => typeof c === "string")) throw malformed("chain is not a list of certificates");
    chain = parsed.chain.map((c, i) => {
      try {
        return caKeyPairFrom(c as string);
      } catch (e) {
        throw malformed(`chain[${i}] is not a certificate`, e);
      }
    });
  }

  const extraState: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) if (!KNOWN_FIELDS.has(key)) extraState[key] = value;
  const authority: Authority = {
    trustDomain,
    name: typeof parsed.name === "string" ? parsed.name : "swarm-mtls",
    roots,
    intermediate,
    defaultKeyAlgorithm,
    maxLeafTtlSeconds: max,
    createdAt,
  };
  if (chain.length > 0) authority.chain = chain;
  if (Object.keys(extraState).length > 0) authority.extraState = extraState;
  return authority;
}

/**
 * The CA state document: CA certificates in the clear, every CA private key as PKCS#8 sealed with AES-256-GCM under
 * the key-encryption key. The additional authenticated data of each key is its certificate's fingerprint, so keys
 * cannot be swapped between entries. Top-level fields this version does not know are carried through open → seal.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
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
export const CA_STATE_VERSION = 1;

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
  /** HMAC-SHA256(KEK, "swarm-mtls/ca-state kek-check"), base64: tells a wrong KEK from a damaged document. */
  kekCheck: string;
  roots: SealedCaEntry[];
  intermediate: SealedCaEntry;
  /** Extra chain certificates (PEM) sent after the intermediate in leaf chains; absent when none. */
  chain?: string[];
  createdAt: string;
  [extra: string]: unknown;
}

const KNOWN_FIELDS = new Set([
  "format", "version", "trustDomain", "name", "defaultKeyAlgorithm", "maxLeafTtlSeconds", "kekCheck", "roots",
  "intermediate", "createdAt", "chain",
]);

const WRONG_KEK = "the key-encryption key does not open this CA state (wrong --kek-file?)";

function checkKek(kek: Uint8Array): Buffer {
  if (!(kek instanceof Uint8Array) || kek.length !== KEK_BYTES) {
    throw new MtlsError("kek", `the key-encryption key must be ${KEK_BYTES} bytes`);
  }
  return Buffer.from(kek);
}

const kekCheckOf = (kek: Buffer): Buffer => createHmac("sha256", kek).update("swarm-mtls/ca-state kek-check").digest();

function sealKey(key: KeyObject, fingerprint: string, kek: Buffer): SealedKey {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek, iv);
  cipher.setAAD(Buffer.from(fingerprint, "utf8"));
  const ct = Buffer.concat([cipher.update(key.export({ type: "pkcs8", format: "der" })), cipher.final()]);
  return { alg: "A256GCM", iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), ct: ct.toString("base64") };
}

/** Seals one CA certificate and its key (when online) under the KEK: for CA records kept beside the authority. */
export function sealCaEntry(pair: CaKeyPair, kek: Uint8Array): SealedCaEntry {
  return sealEntry(pair, checkKek(kek));
}

/** Opens one sealed CA entry; `where` names it in errors. A wrong KEK or a swapped key fails. */
export function openCaEntry(entry: unknown, where: string, kek: Uint8Array, p: { keyRequired: boolean }): CaKeyPair {
  return openEntry(entry, where, checkKek(kek), p.keyRequired);
}

function sealEntry(pair: CaKeyPair, kek: Buffer): SealedCaEntry {
  const entry: SealedCaEntry = { certPem: pair.certPem };
  if (pair.privateKey !== undefined) entry.key = sealKey(pair.privateKey, certFingerprint(pair), kek);
  return entry;
}

/** Serialises an authority with every private key sealed under the KEK. Returns JSON text. */
export function sealAuthority(a: Authority, kek: Uint8Array): string {
  const k = checkKek(kek);
  const doc: CaStateDocument = {
    ...(a.extraState ?? {}),
    format: CA_STATE_FORMAT,
    version: CA_STATE_VERSION,
    trustDomain: a.trustDomain,
    name: a.name,
    defaultKeyAlgorithm: a.defaultKeyAlgorithm,
    maxLeafTtlSeconds: a.maxLeafTtlSeconds,
    kekCheck: kekCheckOf(k).toString("base64"),
    roots: a.roots.map((r) => sealEntry(r, k)),
    intermediate: sealEntry(a.intermediate, k),
    createdAt: a.createdAt.toISOString(),
  };
  if (a.chain && a.chain.length > 0) doc.chain = a.chain.map((c) => c.certPem);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const malformed = (why: string, cause?: unknown): MtlsError => badInput(`the CA state is malformed: ${why}`, cause);

function readSealedKey(v: unknown, where: string): SealedKey {
  if (!isObject(v) || v.alg !== "A256GCM" || typeof v.iv !== "string" || typeof v.tag !== "string" || typeof v.ct !== "string") {
    throw malformed(`${where}.key is not an A256GCM sealed key`);
  }
  return { alg: "A256GCM", iv: v.iv, tag: v.tag, ct: v.ct };
}

function openEntry(v: unknown, where: string, kek: Buffer, keyRequired: boolean): CaKeyPair {
  if (!isObject(v) || typeof v.certPem !== "string") throw malformed(`${where} has no certPem`);
  let pair: CaKeyPair;
  try {
    pair = caKeyPairFrom(v.certPem);
  } catch (e) {
    throw malformed(`${where}.certPem is not a certificate`, e);
  }
  if (v.key === undefined) {
    if (keyRequired) throw malformed(`${where} has no key`);
    return pair;
  }
  const sealed = readSealedKey(v.key, where);
  const iv = Buffer.from(sealed.iv, "base64");
  const tag = Buffer.from(sealed.tag, "base64");
  if (iv.length !== 12 || tag.length !== 16) throw malformed(`${where}.key has a bad iv or tag length`);
  let der: Buffer;
  try {
    const decipher = createDecipheriv("aes-256-gcm", kek, iv);
    decipher.setAAD(Buffer.from(certFingerprint(pair), "utf8"));
    decipher.setAuthTag(tag);
    der = Buffer.concat([decipher.update(Buffer.from(sealed.ct, "base64")), decipher.final()]);
  } catch (e) {
    throw new MtlsError("bad-input", `the CA state is damaged: the key of ${where} does not decrypt (tampered or swapped?)`, { cause: e });
  }
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

const createPublicKeyFrom = (key: KeyObject): Buffer => createPublicKey(key).export({ type: "spki", format: "der" });

/** Opens a CA state document with the KEK. */
export async function openAuthority(doc: string, kek: Uint8Array): Promise<Authority> {
  const k = checkKek(kek);
  let parsed: unknown;
  try {
    parsed = JSON.parse(doc);
  } catch (e) {
    throw malformed("not JSON", e);
  }
  if (!isObject(parsed)) throw malformed("not a JSON object");
  if (parsed.format !== CA_STATE_FORMAT) throw malformed(`format is '${printable(parsed.format)}', expected '${CA_STATE_FORMAT}'`);
  if (parsed.version !== CA_STATE_VERSION) {
    throw malformed(`version ${printable(parsed.version)} is not supported by this swarm-mtls (supports ${CA_STATE_VERSION})`);
  }
  if (typeof parsed.kekCheck === "string") {
    const expected = kekCheckOf(k);
    const given = Buffer.from(parsed.kekCheck, "base64");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new MtlsError("kek", WRONG_KEK);
  }
  if (typeof parsed.trustDomain !== "string") throw malformed("trustDomain is missing");
  const trustDomain = validateTrustDomain(parsed.trustDomain);
  const defaultKeyAlgorithm = parseKeyAlgorithm(String(parsed.defaultKeyAlgorithm));
  const max = parsed.maxLeafTtlSeconds;
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max <= 0) throw malformed("maxLeafTtlSeconds is not a positive integer");
  if (!Array.isArray(parsed.roots) || parsed.roots.length === 0) throw malformed("roots is empty");
  const createdAt = new Date(typeof parsed.createdAt === "string" ? parsed.createdAt : Number.NaN);
  if (Number.isNaN(createdAt.getTime())) throw malformed("createdAt is not a date");

  const open = (v: unknown, where: string, keyRequired: boolean): CaKeyPair => {
    try {
      return openEntry(v, where, k, keyRequired);
    } catch (e) {
      // Without a KEK check value (hand-made documents), a failed decryption most likely means the wrong KEK.
      if (typeof parsed.kekCheck !== "string" && e instanceof MtlsError && e.message.includes("does not decrypt")) {
        throw new MtlsError("kek", WRONG_KEK, { cause: e });
      }
      throw e;
    }
  };
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

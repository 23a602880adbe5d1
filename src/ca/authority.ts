/**
 * The certificate authority: a self-signed root (online, or offline with its key handed out once, encrypted) and an
 * online intermediate that issues the leaves. CA certificates are made with @peculiar/x509; leaves take the fast
 * path in leaf.ts.
 */
import { encryptPrivateKeyScrypt } from "./encrypt-key.js";
import { KeyObject, X509Certificate as NodeX509Certificate, webcrypto } from "node:crypto";
import { badInput, MtlsError, printable } from "../errors.js";

import { pemEncode } from "./der.js";
import { fingerprint, subjectKeyIdentifier } from "./fingerprint.js";
import { KEY_ALGORITHM_PROFILES, keyAlgorithmOfKey } from "./keys.js";
import { parseKeyAlgorithm, validateTrustDomain } from "./names.js";
import { randomSerial } from "./serial.js";
import type { Authority, AuthorityCreateParams, CaCertificateInfo, CaKeyPair, KeyAlgorithm } from "./types.js";
import { x509 } from "./x509.js";

const DAY = 86400;
export const DEFAULT_ROOT_TTL_SECONDS = 3650 * DAY;
export const DEFAULT_INTERMEDIATE_TTL_SECONDS = 365 * DAY;
export const DEFAULT_MAX_LEAF_TTL_SECONDS = 7 * DAY;
export const DEFAULT_CA_NAME = "swarm-mtls";
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = "ecdsa-p256";
/** CA certificates are backdated this much against clock skew. */
const CA_SKEW_SECONDS = 60;

function positiveSeconds(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw badInput(`${what} must be a positive whole number of seconds (got ${printable(v)})`);
  return v;
}

function validateCaName(name: string): string {
  if (!/^[\x20-\x7e]{1,40}$/.test(name) || name.trim() !== name) {
    throw badInput(`CA name '${printable(name)}' must be 1-40 printable ASCII characters without surrounding spaces`);
  }
  return name;
}

/** Wraps a CA certificate (PEM or DER) and its optional key into a CaKeyPair. */
export function caKeyPairFrom(cert: string | Uint8Array, privateKey?: KeyObject): CaKeyPair {
  const parsed = new x509.X509Certificate(typeof cert === "string" ? cert : Buffer.from(cert));
  const pair: CaKeyPair = { certPem: pemEncode(new Uint8Array(parsed.rawData), "CERTIFICATE"), cert: parsed };
  if (privateKey !== undefined) pair.privateKey = privateKey;
  return pair;
}

/** DER bytes of a CA certificate. */
export const certDer = (pair: CaKeyPair): Buffer => Buffer.from(pair.cert.rawData);

/** SHA-256 fingerprint of a CA certificate, lower-case hex. */
export const certFingerprint = (pair: CaKeyPair): string => fingerprint(new Uint8Array(pair.cert.rawData));

/** The key algorithm of a CA certificate's public key. */
export function caKeyAlgorithm(pair: CaKeyPair): KeyAlgorithm {
  const alg = keyAlgorithmOfKey(new NodeX509Certificate(certDer(pair)).publicKey);
  if (alg === undefined) throw new MtlsError("internal", `CA certificate ${pair.cert.subject} has an unsupported key`);
  return alg;
}

/** The result of createAuthority. */
export interface AuthorityCreateResult {
  authority: Authority;
  /** Only with offlineRoot: the root private key as encrypted PKCS#8 PEM (PBES2: scrypt, AES-256-CBC). Store it offline. */
  offlineRootKeyPem?: string;
}

/** The checked settings of a new CA and its certificates' validity, at the second `now` falls in. */
interface CaSettings {
  trustDomain: string;
  keyAlgorithm: KeyAlgorithm;
  name: string;
  maxLeafTtlSeconds: number;
  passphrase: Buffer | undefined;
  nowMs: number;
  notBefore: Date;
  rootNotAfter: Date;
  intermediateNotAfter: Date;
}

function caSettings(p: AuthorityCreateParams): CaSettings {
  const trustDomain = validateTrustDomain(p.trustDomain);
  const keyAlgorithm = parseKeyAlgorithm(p.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM);
  const name = validateCaName(p.name ?? DEFAULT_CA_NAME);
  const rootTtl = positiveSeconds(p.rootTtlSeconds, DEFAULT_ROOT_TTL_SECONDS, "root lifetime");
  const intermediateTtl = positiveSeconds(p.intermediateTtlSeconds, DEFAULT_INTERMEDIATE_TTL_SECONDS, "intermediate lifetime");
  const maxLeafTtlSeconds = positiveSeconds(p.maxLeafTtlSeconds, DEFAULT_MAX_LEAF_TTL_SECONDS, "maximum leaf lifetime");
  let passphrase: Buffer | undefined;
  if (p.offlineRoot !== undefined) {
    passphrase = Buffer.from(p.offlineRoot.passphrase);
    if (passphrase.length === 0) throw badInput("the offline root passphrase must not be empty");
  }
  const nowMs = Math.floor((p.now ?? new Date()).getTime() / 1000) * 1000;
  const notBefore = new Date(nowMs - CA_SKEW_SECONDS * 1000);
  const rootNotAfter = new Date(nowMs + rootTtl * 1000);
  const intermediateNotAfter = new Date(Math.min(nowMs + intermediateTtl * 1000, rootNotAfter.getTime()));
  return { trustDomain, keyAlgorithm, name, maxLeafTtlSeconds, passphrase, nowMs, notBefore, rootNotAfter, intermediateNotAfter };
}

type CaProfile = (typeof KEY_ALGORITHM_PROFILES)[KeyAlgorithm];
interface CaKeys {
  keys: CryptoKeyPair;
  ski: Buffer;
}

async function generateCaKeys(profile: CaProfile): Promise<CaKeys> {
  const subtle = webcrypto.subtle;
  const keys = (await subtle.generateKey(profile.webCryptoKeyGen, true, ["sign", "verify"])) as CryptoKeyPair;
  const spki = Buffer.from(await subtle.exportKey("spki", keys.publicKey));
  return { keys, ski: subjectKeyIdentifier(spki) };
}

const shortId = (ski: Buffer): string => ski.subarray(0, 4).toString("hex");
const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

function createRootCert(s: CaSettings, profile: CaProfile, root: CaKeys): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial().toString("hex"),
    name: [{ O: [s.name] }, { CN: [`${s.name} root CA ${shortId(root.ski)}`] }],
    notBefore: s.notBefore,
    notAfter: s.rootNotAfter,
    keys: root.keys,
    signingAlgorithm: profile.webCryptoSigning,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      new x509.SubjectKeyIdentifierExtension(root.ski.toString("hex")),
      new x509.AuthorityKeyIdentifierExtension(root.ski.toString("hex")),
    ],
  });
}

function createIntermediateCert(s: CaSettings, profile: CaProfile, root: CaKeys, rootCert: x509.X509Certificate, intermediate: CaKeys): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial().toString("hex"),
    subject: [{ O: [s.name] }, { CN: [`${s.name} intermediate CA ${shortId(intermediate.ski)}`] }],
    issuer: rootCert.subjectName,
    notBefore: s.notBefore,
    notAfter: s.intermediateNotAfter,
    publicKey: intermediate.keys.publicKey,
    signingKey: root.keys.privateKey,
    signingAlgorithm: profile.webCryptoSigning,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      new x509.SubjectKeyIdentifierExtension(intermediate.ski.toString("hex")),
      new x509.AuthorityKeyIdentifierExtension(root.ski.toString("hex")),
    ],
  });
}

/** Creates a new root and intermediate. */
export async function createAuthority(p: AuthorityCreateParams): Promise<AuthorityCreateResult> {
  const s = caSettings(p);
  const profile = KEY_ALGORITHM_PROFILES[s.keyAlgorithm];
  const root = await generateCaKeys(profile);
  const intermediate = await generateCaKeys(profile);
  const rootCert = await createRootCert(s, profile, root);
  const intermediateCert = await createIntermediateCert(s, profile, root, rootCert, intermediate);

  const rootKey = KeyObject.from(root.keys.privateKey);
  const authority: Authority = {
    trustDomain: s.trustDomain,
    name: s.name,
    roots: [caKeyPairFrom(new Uint8Array(rootCert.rawData), s.passphrase === undefined ? rootKey : undefined)],
    intermediate: caKeyPairFrom(new Uint8Array(intermediateCert.rawData), KeyObject.from(intermediate.keys.privateKey)),
    defaultKeyAlgorithm: s.keyAlgorithm,
    maxLeafTtlSeconds: s.maxLeafTtlSeconds,
    createdAt: new Date(s.nowMs),
  };
  if (s.passphrase === undefined) return { authority };
  const offlineRootKeyPem = encryptPrivateKeyScrypt(rootKey, s.passphrase);
  return { authority, offlineRootKeyPem };
}

function describe(pair: CaKeyPair, role: CaCertificateInfo["role"]): CaCertificateInfo {
  return {
    role,
    subject: pair.cert.subject,
    issuer: pair.cert.issuer,
    serial: pair.cert.serialNumber.toLowerCase(),
    fingerprint: certFingerprint(pair),
    notBefore: pair.cert.notBefore,
    notAfter: pair.cert.notAfter,
    keyAlgorithm: caKeyAlgorithm(pair),
    keyOnline: pair.privateKey !== undefined || pair.keySealed === true,
    pem: pair.certPem,
  };
}

/** What an operator sees of the CA: the roots, then the intermediate. */
export function describeAuthority(a: Authority): CaCertificateInfo[] {
  return [...a.roots.map((r) => describe(r, "root")), describe(a.intermediate, "intermediate")];
}

/** The trust bundle: every trusted root, PEM, concatenated (what goes into ca.crt). */
export function bundlePem(a: Authority): string {
  return a.roots.map((r) => r.certPem).join("");
}

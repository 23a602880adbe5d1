/**
 * The certificates a CA rotation makes: a new root, a new intermediate under a root whose key is online, and a
 * cross certificate (the new root's subject and key, signed by the old root) so that chains to either root verify
 * while both are trusted.
 */
import { KeyObject, webcrypto } from "node:crypto";
import { badInput } from "../errors.js";
import { caKeyAlgorithm, caKeyPairFrom, DEFAULT_CA_NAME, DEFAULT_KEY_ALGORITHM } from "./authority.js";
import { subjectKeyIdentifier } from "./fingerprint.js";
import { KEY_ALGORITHM_PROFILES } from "./keys.js";
import { caKeyIdentifier } from "./leaf.js";
import { parseKeyAlgorithm } from "./names.js";
import { randomSerial } from "./serial.js";
import type { CaKeyPair, KeyAlgorithm } from "./types.js";
import { x509 } from "./x509.js";

/** CA certificates are backdated this much against clock skew (as in createAuthority). */
const CA_SKEW_SECONDS = 60;
const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

/** Parameters of createRootCa and createIntermediateCa. */
export interface CaSuccessorCreateParams {
  /** Name written into the subject (O and the CN prefix); default "swarm-mtls". */
  name?: string;
  /** Key algorithm of the new CA key; default "ecdsa-p256". */
  keyAlgorithm?: KeyAlgorithm;
  /** Lifetime in seconds; required. An intermediate never outlives its signer. */
  ttlSeconds: number;
  /** Clock; default the current time. */
  now?: Date;
}

/** Parameters of createRootCa. */
export interface RootCaCreateParams extends CaSuccessorCreateParams {
  /**
   * Keep the subject name of this (old) root: a key rollover. The cross certificate is then self-issued and does not
   * count against the old root's path length limit (RFC 5280 6.1.4), so [leaf, intermediate, cross] verifies under
   * an old root made with pathlen 1. Default: a fresh name.
   */
  keepSubjectOf?: CaKeyPair;
}

/** Parameters of crossSignRoot. */
export interface RootCrossSignParams {
  /** The new root (its subject and public key are certified). */
  root: CaKeyPair;
  /** The old root, with its private key; signs the cross certificate. */
  signer: CaKeyPair;
  /** Clock; default the current time. */
  now?: Date;
}

function window(now: Date | undefined, ttlSeconds: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw badInput(`CA lifetime must be a positive whole number of seconds (got ${ttlSeconds})`);
  const nowMs = Math.floor((now ?? new Date()).getTime() / 1000) * 1000;
  return { notBefore: new Date(nowMs - CA_SKEW_SECONDS * 1000), notAfter: new Date(nowMs + ttlSeconds * 1000) };
}

async function generate(alg: KeyAlgorithm): Promise<{ keys: CryptoKeyPair; ski: Buffer }> {
  const subtle = webcrypto.subtle;
  const keys = (await subtle.generateKey(KEY_ALGORITHM_PROFILES[alg].webCryptoKeyGen, true, ["sign", "verify"])) as CryptoKeyPair;
  const spki = Buffer.from(await subtle.exportKey("spki", keys.publicKey));
  return { keys, ski: subjectKeyIdentifier(spki) };
}

/** The private key of a CA as a WebCrypto signing key (what @peculiar/x509 signs with). */
async function signingKeyOf(pair: CaKeyPair, what: string): Promise<{ key: CryptoKey; alg: KeyAlgorithm }> {
  if (pair.privateKey === undefined) {
    throw badInput(`the ${what} key is offline (not in the CA state): a rotation needs it to sign; bring the root online first`);
  }
  const alg = caKeyAlgorithm(pair);
  const der = pair.privateKey.export({ type: "pkcs8", format: "der" });
  const key = (await webcrypto.subtle.importKey("pkcs8", der, KEY_ALGORITHM_PROFILES[alg].webCryptoKeyGen, false, ["sign"])) as unknown as CryptoKey;
  return { key, alg };
}

const shortId = (ski: Buffer): string => ski.subarray(0, 4).toString("hex");

/** A new self-signed root with its key online (same subject as `keepSubjectOf` when given: a key rollover). */
export async function createRootCa(p: RootCaCreateParams): Promise<CaKeyPair> {
  const alg = parseKeyAlgorithm(p.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM);
  const name = p.name ?? DEFAULT_CA_NAME;
  const { notBefore, notAfter } = window(p.now, p.ttlSeconds);
  const root = await generate(alg);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial().toString("hex"),
    name: p.keepSubjectOf ? p.keepSubjectOf.cert.subjectName : [{ O: [name] }, { CN: [`${name} root CA ${shortId(root.ski)}`] }],
    notBefore,
    notAfter,
    keys: root.keys,
    signingAlgorithm: KEY_ALGORITHM_PROFILES[alg].webCryptoSigning,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      new x509.SubjectKeyIdentifierExtension(root.ski.toString("hex")),
      new x509.AuthorityKeyIdentifierExtension(root.ski.toString("hex")),
    ],
  });
  return caKeyPairFrom(new Uint8Array(cert.rawData), KeyObject.from(root.keys.privateKey));
}

/** A new intermediate signed by `signer` (a root whose key is online); it never outlives the signer. */
export async function createIntermediateCa(p: CaSuccessorCreateParams & { signer: CaKeyPair }): Promise<CaKeyPair> {
  const alg = parseKeyAlgorithm(p.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM);
  const name = p.name ?? DEFAULT_CA_NAME;
  const signing = await signingKeyOf(p.signer, "root");
  const w = window(p.now, p.ttlSeconds);
  const notAfter = new Date(Math.min(w.notAfter.getTime(), p.signer.cert.notAfter.getTime()));
  const intermediate = await generate(alg);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial().toString("hex"),
    subject: [{ O: [name] }, { CN: [`${name} intermediate CA ${shortId(intermediate.ski)}`] }],
    issuer: p.signer.cert.subjectName,
    notBefore: w.notBefore,
    notAfter,
    publicKey: intermediate.keys.publicKey,
    signingKey: signing.key,
    signingAlgorithm: KEY_ALGORITHM_PROFILES[signing.alg].webCryptoSigning,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      new x509.SubjectKeyIdentifierExtension(intermediate.ski.toString("hex")),
      new x509.AuthorityKeyIdentifierExtension(caKeyIdentifier(p.signer).toString("hex")),
    ],
  });
  return caKeyPairFrom(new Uint8Array(cert.rawData), KeyObject.from(intermediate.keys.privateKey));
}

/**
 * The cross certificate of a root rotation: subject, public key and key identifier of the new root, issued and
 * signed by the old root, valid no longer than either. A peer that trusts only the old root verifies a new leaf
 * through [leaf, new intermediate, cross certificate]; a peer that trusts the new root stops at the new root.
 */
export async function crossSignRoot(p: RootCrossSignParams): Promise<CaKeyPair> {
  const signing = await signingKeyOf(p.signer, "old root");
  const nowMs = Math.floor((p.now ?? new Date()).getTime() / 1000) * 1000;
  const notAfter = new Date(Math.min(p.root.cert.notAfter.getTime(), p.signer.cert.notAfter.getTime()));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial().toString("hex"),
    subject: p.root.cert.subjectName,
    issuer: p.signer.cert.subjectName,
    notBefore: new Date(nowMs - CA_SKEW_SECONDS * 1000),
    notAfter,
    publicKey: p.root.cert.publicKey,
    signingKey: signing.key,
    signingAlgorithm: KEY_ALGORITHM_PROFILES[signing.alg].webCryptoSigning,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      new x509.SubjectKeyIdentifierExtension(caKeyIdentifier(p.root).toString("hex")),
      new x509.AuthorityKeyIdentifierExtension(caKeyIdentifier(p.signer).toString("hex")),
    ],
  });
  return caKeyPairFrom(new Uint8Array(cert.rawData));
}

/**
 * Key algorithms: how each is generated (node:crypto and WebCrypto), how a key of it signs a certificate, and
 * which key usages its leaves get.
 */
import { createPublicKey, generateKeyPair, generateKeyPairSync, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { bitString, oid, pemEncode, seq, tlv, TAG } from "./der.js";
import type { KeyAlgorithm } from "./types.js";

const generateKeyPairAsync = promisify(generateKeyPair);

/** Everything that differs between key algorithms. */
export interface KeyAlgorithmProfile {
  algorithm: KeyAlgorithm;
  /** WebCrypto key generation parameters (for CA keys made through @peculiar/x509). */
  webCryptoKeyGen: EcKeyGenParams | RsaHashedKeyGenParams | Algorithm;
  /** WebCrypto signing algorithm for certificates signed by a key of this kind. */
  webCryptoSigning: Algorithm | EcdsaParams;
  /** Digest node:crypto.sign uses with a key of this kind; null for Ed25519. */
  digest: "sha256" | "sha384" | null;
  /** DER of the signature AlgorithmIdentifier of certificates signed by a key of this kind. */
  signatureAlgorithmDer: Buffer;
  /** Whether leaves with this kind of key also get keyEncipherment (RSA key transport). */
  keyEncipherment: boolean;
}

const RSA_WEBCRYPTO_SIGNING = { name: "RSASSA-PKCS1-v1_5" };
const SHA256_WITH_RSA = seq(oid("1.2.840.113549.1.1.11"), tlv(TAG.NULL));
const rsaKeyGen = (modulusLength: number): RsaHashedKeyGenParams => ({
  name: "RSASSA-PKCS1-v1_5",
  modulusLength,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
});

export const KEY_ALGORITHM_PROFILES: Record<KeyAlgorithm, KeyAlgorithmProfile> = {
  "ecdsa-p256": {
    algorithm: "ecdsa-p256",
    webCryptoKeyGen: { name: "ECDSA", namedCurve: "P-256" } as EcKeyGenParams,
    webCryptoSigning: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    digest: "sha256",
    signatureAlgorithmDer: seq(oid("1.2.840.10045.4.3.2")),
    keyEncipherment: false,
  },
  "ecdsa-p384": {
    algorithm: "ecdsa-p384",
    webCryptoKeyGen: { name: "ECDSA", namedCurve: "P-384" } as EcKeyGenParams,
    webCryptoSigning: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
    digest: "sha384",
    signatureAlgorithmDer: seq(oid("1.2.840.10045.4.3.3")),
    keyEncipherment: false,
  },
  ed25519: {
    algorithm: "ed25519",
    webCryptoKeyGen: { name: "Ed25519" },
    webCryptoSigning: { name: "Ed25519" },
    digest: null,
    signatureAlgorithmDer: seq(oid("1.3.101.112")),
    keyEncipherment: false,
  },
  "rsa-2048": {
    algorithm: "rsa-2048",
    webCryptoKeyGen: rsaKeyGen(2048),
    webCryptoSigning: RSA_WEBCRYPTO_SIGNING,
    digest: "sha256",
    signatureAlgorithmDer: SHA256_WITH_RSA,
    keyEncipherment: true,
  },
  "rsa-3072": {
    algorithm: "rsa-3072",
    webCryptoKeyGen: rsaKeyGen(3072),
    webCryptoSigning: RSA_WEBCRYPTO_SIGNING,
    digest: "sha256",
    signatureAlgorithmDer: SHA256_WITH_RSA,
    keyEncipherment: true,
  },
};

/** The key algorithm of a node key (public or private), or undefined when it is not one swarm-mtls uses. */
export function keyAlgorithmOfKey(key: KeyObject): KeyAlgorithm | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      if (details.namedCurve === "prime256v1") return "ecdsa-p256";
      if (details.namedCurve === "secp384r1") return "ecdsa-p384";
      return undefined;
    case "ed25519":
      return "ed25519";
    case "rsa":
      if (details.modulusLength === 2048) return "rsa-2048";
      if (details.modulusLength === 3072) return "rsa-3072";
      return undefined;
    default:
      return undefined;
  }
}

/** Describes a key that is not one of ours, for error messages ("rsa-1024", "ec secp256k1"). */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa") return `rsa-${d.modulusLength ?? "?"}`;
  if (key.asymmetricKeyType === "ec") return `ec ${d.namedCurve ?? "?"}`;
  return String(key.asymmetricKeyType);
}

/** The key algorithm of an SPKI DER public key, or undefined. */
export function keyAlgorithmOfSpki(spkiDer: Buffer): KeyAlgorithm | undefined {
  return keyAlgorithmOfKey(createPublicKey({ key: spkiDer, format: "der", type: "spki" }));
}

/** A freshly generated leaf key: the public key as SPKI DER and the private key as PKCS#8 PEM. */
export interface LeafKey {
  spkiDer: Buffer;
  keyPem: string;
}

const OID_EC_PUBLIC_KEY = oid("1.2.840.10045.2.1");
const OID_ED25519 = oid("1.3.101.112");
const EC_CURVE: Partial<Record<KeyAlgorithm, { nodeName: string; oid: Buffer }>> = {
  "ecdsa-p256": { nodeName: "P-256", oid: oid("1.2.840.10045.3.1.7") },
  "ecdsa-p384": { nodeName: "P-384", oid: oid("1.3.132.0.34") },
};
const VERSION_0 = Buffer.from([0x02, 0x01, 0x00]);
const VERSION_1 = Buffer.from([0x02, 0x01, 0x01]);

/**
 * SPKI and PKCS#8 of an EC or Ed25519 key, encoded by hand from its private JWK. OpenSSL 3's encoders cost ~0.2 ms
 * per key (more than generating it); the JWK export is ~0.005 ms. The output is byte-identical to KeyObject.export
 * (a unit test holds it to that).
 */
function encodeFromJwk(algorithm: KeyAlgorithm, jwk: JsonWebKey): { spkiDer: Buffer; pkcs8Der: Buffer } {
  const curve = EC_CURVE[algorithm];
  if (curve !== undefined) {
    const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x ?? "", "base64url"), Buffer.from(jwk.y ?? "", "base64url")]);
    const algorithmId = seq(OID_EC_PUBLIC_KEY, curve.oid);
    const spkiDer = seq(algorithmId, bitString(point));
    const ecPrivateKey = seq(VERSION_1, tlv(TAG.OCTET_STRING, Buffer.from(jwk.d ?? "", "base64url")), tlv(0xa1, bitString(point)));
    return { spkiDer, pkcs8Der: seq(VERSION_0, algorithmId, tlv(TAG.OCTET_STRING, ecPrivateKey)) };
  }
  const algorithmId = seq(OID_ED25519);
  const spkiDer = seq(algorithmId, bitString(Buffer.from(jwk.x ?? "", "base64url")));
  const pkcs8Der = seq(VERSION_0, algorithmId, tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, Buffer.from(jwk.d ?? "", "base64url"))));
  return { spkiDer, pkcs8Der };
}

/**
 * node:crypto's generateKeyPair(Sync) arguments for a leaf key, with the encoding asked for up front.
 *
 * Why up front: on Node 20, exporting a KeyObject afterwards (`privateKey.export(...)`) can deadlock the whole process
 * at 0 % CPU. The export holds the key's mutex while it allocates; the allocation may run a garbage collection, which
 * destroys the finished key-generation job, whose destructor takes the same mutex (seen with gdb:
 * ExportJWKEcKey → GC → ~KeyGenJob → pthread_mutex_lock). A loop of generateKeyPairSync + export({format: "jwk"})
 * hangs within a few thousand keys; `npm run bench:issue` hung this way. Encoded by the job itself, while the job is
 * alive, no KeyObject is exported later.
 */
type LeafKeyGen =
  | { kind: "jwk"; type: "ec" | "ed25519"; options: object }
  | { kind: "der"; type: "rsa"; options: object };

const JWK_ENCODING = { privateKeyEncoding: { format: "jwk" } };
const DER_ENCODING = { publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "der" } };

function leafKeyGen(algorithm: KeyAlgorithm): LeafKeyGen {
  switch (algorithm) {
    case "ecdsa-p256":
      return { kind: "jwk", type: "ec", options: { namedCurve: "P-256", ...JWK_ENCODING } };
    case "ecdsa-p384":
      return { kind: "jwk", type: "ec", options: { namedCurve: "P-384", ...JWK_ENCODING } };
    case "ed25519":
      return { kind: "jwk", type: "ed25519", options: JWK_ENCODING };
    case "rsa-2048":
      return { kind: "der", type: "rsa", options: { modulusLength: 2048, ...DER_ENCODING } };
    case "rsa-3072":
      return { kind: "der", type: "rsa", options: { modulusLength: 3072, ...DER_ENCODING } };
  }
}

/** What generateKeyPair(Sync) returns with the encodings of leafKeyGen. */
type EncodedPair = { publicKey: unknown; privateKey: JsonWebKey | Buffer };

function leafKeyOf(algorithm: KeyAlgorithm, gen: LeafKeyGen, pair: EncodedPair): LeafKey {
  const { spkiDer, pkcs8Der } = gen.kind === "jwk"
    ? encodeFromJwk(algorithm, pair.privateKey as JsonWebKey)
    : { spkiDer: pair.publicKey as Buffer, pkcs8Der: pair.privateKey as Buffer };
  return { spkiDer, keyPem: pemEncode(pkcs8Der, "PRIVATE KEY") };
}

/** Generates a leaf key on the calling thread. */
export function generateLeafKeySync(algorithm: KeyAlgorithm): LeafKey {
  const gen = leafKeyGen(algorithm);
  // The overloads of generateKeyPairSync are per literal type; one call site with a union needs a cast.
  const pair = (generateKeyPairSync as (t: string, o: object) => EncodedPair)(gen.type, gen.options);
  return leafKeyOf(algorithm, gen, pair);
}

/** Generates a leaf key on libuv's thread pool (RSA generation does not block the event loop). */
export async function generateLeafKey(algorithm: KeyAlgorithm): Promise<LeafKey> {
  const gen = leafKeyGen(algorithm);
  const pair = await (generateKeyPairAsync as (t: string, o: object) => Promise<EncodedPair>)(gen.type, gen.options);
  return leafKeyOf(algorithm, gen, pair);
}

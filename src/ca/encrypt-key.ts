/**
 * Encrypted PKCS#8 for the offline root key with a memory-hard KDF: PBES2 with scrypt (RFC 7914 §7, N=2^14, r=8,
 * p=5: 16 MiB per lane, within OpenSSL's default scrypt memory limit, so `openssl pkey -passin` opens the file) and
 * AES-256-CBC. Node's own export uses PBKDF2 with OpenSSL's default 2,048 iterations, far too few for a key kept
 * offline for years. Node and OpenSSL both read these files with the passphrase; older files (PBKDF2) still open.
 */
import { createCipheriv, randomBytes, scryptSync, type KeyObject } from "node:crypto";
import { oid, pemEncode, TAG, tlv, unsignedInteger } from "./der.js";

/** scrypt cost parameters of new offline root key files. */
export const ROOT_KEY_SCRYPT = { N: 1 << 14, r: 8, p: 5 } as const;

const int = (n: number): Buffer => {
  const hex = n.toString(16);
  return unsignedInteger(Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"));
};

/** The private key as encrypted PKCS#8 PEM (label "ENCRYPTED PRIVATE KEY"), PBES2/scrypt/AES-256-CBC under the passphrase. */
export function encryptPrivateKeyScrypt(key: KeyObject, passphrase: Uint8Array | string): string {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const { N, r, p } = ROOT_KEY_SCRYPT;
  const dk = scryptSync(Buffer.from(passphrase), salt, 32, { N, r, p, maxmem: 256 * N * r });
  const cipher = createCipheriv("aes-256-cbc", dk, iv);
  const ct = Buffer.concat([cipher.update(key.export({ type: "pkcs8", format: "der" })), cipher.final()]);
  const scryptParams = tlv(TAG.SEQUENCE, tlv(TAG.OCTET_STRING, salt), int(N), int(r), int(p), int(32));
  const kdf = tlv(TAG.SEQUENCE, oid("1.3.6.1.4.1.11591.4.11"), scryptParams);
  const enc = tlv(TAG.SEQUENCE, oid("2.16.840.1.101.3.4.1.42"), tlv(TAG.OCTET_STRING, iv));
  const alg = tlv(TAG.SEQUENCE, oid("1.2.840.113549.1.5.13"), tlv(TAG.SEQUENCE, kdf, enc));
  return pemEncode(tlv(TAG.SEQUENCE, alg, tlv(TAG.OCTET_STRING, ct)), "ENCRYPTED PRIVATE KEY");
}

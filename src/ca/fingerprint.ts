import { createHash } from "node:crypto";
import { children, nodeContent, readNode } from "./der.js";

/** SHA-256 of a certificate's DER, lower-case hex without separators (what labels and CLI output show). */
export function fingerprint(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/**
 * RFC 5280 §4.2.1.2 method 1 key identifier: SHA-1 of the subjectPublicKey BIT STRING value (without the
 * unused-bits byte) of an SPKI.
 */
export function subjectKeyIdentifier(spkiDer: Buffer): Buffer {
  const spki = readNode(spkiDer, 0);
  const bitString = children(spkiDer, spki)[1];
  if (bitString === undefined) throw new RangeError("SPKI has no public key");
  return createHash("sha1").update(nodeContent(spkiDer, bitString).subarray(1)).digest();
}

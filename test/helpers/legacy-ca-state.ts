/**
 * The CA state exactly as swarm-mtls wrote it before the document MAC (format version 1): keys sealed with
 * AES-256-GCM under the KEK itself, a KEK check value, and nothing else authenticated. Tests use it to show that such
 * a state is migrated once and that a changed one is not trusted blindly.
 */
import "reflect-metadata";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { certFingerprint, type Authority, type CaKeyPair } from "../../src/ca/index.js";

function sealEntryV1(pair: CaKeyPair, kek: Buffer): Record<string, unknown> {
  const entry: Record<string, unknown> = { certPem: pair.certPem };
  if (pair.privateKey === undefined) return entry;
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek, iv);
  cipher.setAAD(Buffer.from(certFingerprint(pair), "utf8"));
  const ct = Buffer.concat([cipher.update(pair.privateKey.export({ type: "pkcs8", format: "der" })), cipher.final()]);
  entry.key = { alg: "A256GCM", iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), ct: ct.toString("base64") };
  return entry;
}

/** The version 1 document of an authority (what `sealAuthority` returned before the MAC). */
export function sealAuthorityV1(a: Authority, kekBytes: Uint8Array, edit: (doc: Record<string, unknown>) => void = () => {}): string {
  const kek = Buffer.from(kekBytes);
  const doc: Record<string, unknown> = {
    ...(a.extraState ?? {}),
    format: "swarm-mtls/ca-state",
    version: 1,
    trustDomain: a.trustDomain,
    name: a.name,
    defaultKeyAlgorithm: a.defaultKeyAlgorithm,
    maxLeafTtlSeconds: a.maxLeafTtlSeconds,
    kekCheck: createHmac("sha256", kek).update("swarm-mtls/ca-state kek-check").digest().toString("base64"),
    roots: a.roots.map((r) => sealEntryV1(r, kek)),
    intermediate: sealEntryV1(a.intermediate, kek),
    createdAt: a.createdAt.toISOString(),
  };
  if (a.chain && a.chain.length > 0) doc.chain = a.chain.map((c) => c.certPem);
  edit(doc);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * Reference leaf issuance with @peculiar/x509: the same profile as the fast path in leaf.ts, built through the
 * general ASN.1 machinery. Slow (~4x); kept as the yardstick the fast path is tested against and benchmarked with.
 */
import { MtlsError } from "../errors.js";
import { caKeyAlgorithm } from "./authority.js";
import { pemEncode } from "./der.js";
import { subjectKeyIdentifier } from "./fingerprint.js";
import { KEY_ALGORITHM_PROFILES } from "./keys.js";
import { caKeyIdentifier, type LeafPlan } from "./leaf.js";
import type { Authority } from "./types.js";
import { x509 } from "./x509.js";

/** Parameters of issueLeafReference. */
export interface LeafReferenceIssueParams {
  /** The validated request (from planLeaf); required. */
  plan: LeafPlan;
  /** Public key of the leaf, SPKI DER; required. */
  spkiDer: Buffer;
  /** Serial bytes; required (so the result can be compared with a fast-path leaf). */
  serial: Buffer;
}

/** Builds and signs a leaf with @peculiar/x509; returns its PEM. */
export async function issueLeafReference(a: Authority, p: LeafReferenceIssueParams): Promise<string> {
  const issuer = a.intermediate;
  if (issuer.privateKey === undefined) throw new MtlsError("internal", "the intermediate CA key is not loaded");
  const profile = KEY_ALGORITHM_PROFILES[caKeyAlgorithm(issuer)];
  const signingKey = await globalThis.crypto.subtle.importKey(
    "pkcs8",
    issuer.privateKey.export({ type: "pkcs8", format: "der" }),
    profile.webCryptoKeyGen,
    false,
    ["sign"],
  );
  const leafProfile = KEY_ALGORITHM_PROFILES[p.plan.keyAlgorithm];
  const usages = x509.KeyUsageFlags.digitalSignature | (leafProfile.keyEncipherment ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usages, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    new x509.AuthorityKeyIdentifierExtension(caKeyIdentifier(issuer).toString("hex")),
    new x509.SubjectKeyIdentifierExtension(subjectKeyIdentifier(p.spkiDer).toString("hex")),
  ];
  if (p.plan.dnsNames.length > 0 || p.plan.uris.length > 0 || p.plan.ipAddresses.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...p.plan.dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...p.plan.uris.map((value) => ({ type: "url" as const, value })),
        ...p.plan.ipAddresses.map((value) => ({ type: "ip" as const, value })),
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: p.serial.toString("hex"),
    subject: [{ CN: [p.plan.identity] }],
    issuer: issuer.cert.subjectName,
    notBefore: p.plan.notBefore,
    notAfter: p.plan.notAfter,
    publicKey: new Uint8Array(p.spkiDer),
    signingKey,
    signingAlgorithm: profile.webCryptoSigning,
    extensions,
  });
  return pemEncode(new Uint8Array(cert.rawData), "CERTIFICATE");
}

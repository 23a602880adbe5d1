/**
 * A CA under an upstream root (the company's PKI): the intermediate's key is made here and stays sealed in the store;
 * its certificate is signed outside (Vault, step-ca, an offline openssl root) from a CSR, then imported. Until then
 * the store holds a *pending* intermediate: the sealed key and its CSR, nothing that can sign a leaf.
 */
import { createPublicKey, KeyObject, X509Certificate as NodeX509Certificate, webcrypto } from "node:crypto";
import { badInput } from "../errors.js";
import { caKeyAlgorithm, caKeyPairFrom, DEFAULT_CA_NAME } from "./authority.js";
import { pemEncode } from "./der.js";
import { subjectKeyIdentifier } from "./fingerprint.js";
import { KEY_ALGORITHM_PROFILES } from "./keys.js";
import { parseKeyAlgorithm, validateTrustDomain } from "./names.js";
import type { Authority, CaKeyPair, KeyAlgorithm } from "./types.js";
import { x509 } from "./x509.js";

/** An intermediate waiting for its upstream-signed certificate. */
export interface PendingIntermediate {
  trustDomain: string;
  name: string;
  defaultKeyAlgorithm: KeyAlgorithm;
  maxLeafTtlSeconds: number;
  /** The PKCS#10 request, PEM: what the operator has signed upstream. */
  csrPem: string;
  /** The intermediate's private key. Never log it. */
  privateKey: KeyObject;
  createdAt: Date;
}

export interface PendingIntermediateCreateParams {
  trustDomain: string;
  keyAlgorithm?: KeyAlgorithm;
  maxLeafTtlSeconds: number;
  name?: string;
  now?: Date;
}

/**
 * A new intermediate key and its CSR: subject O=<name>, CN=<name> intermediate CA <id>, asking for CA:true with
 * pathlen 0 and keyCertSign + cRLSign (what `openssl x509 -req -copy_extensions copy` carries over; an upstream CA
 * may set its own).
 */
export async function createPendingIntermediate(p: PendingIntermediateCreateParams): Promise<PendingIntermediate> {
  const trustDomain = validateTrustDomain(p.trustDomain);
  const alg = parseKeyAlgorithm(p.keyAlgorithm ?? "ecdsa-p256");
  const name = p.name ?? DEFAULT_CA_NAME;
  const profile = KEY_ALGORITHM_PROFILES[alg];
  const keys = (await webcrypto.subtle.generateKey(profile.webCryptoKeyGen, true, ["sign", "verify"])) as CryptoKeyPair;
  const ski = subjectKeyIdentifier(Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey)));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ O: [name] }, { CN: [`${name} intermediate CA ${ski.subarray(0, 4).toString("hex")}`] }],
    keys,
    signingAlgorithm: profile.webCryptoSigning,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(ski.toString("hex")),
    ],
  });
  return {
    trustDomain,
    name,
    defaultKeyAlgorithm: alg,
    maxLeafTtlSeconds: p.maxLeafTtlSeconds,
    csrPem: pemEncode(new Uint8Array(csr.rawData), "CERTIFICATE REQUEST"),
    privateKey: KeyObject.from(keys.privateKey),
    createdAt: p.now ?? new Date(),
  };
}

/** Every certificate in a PEM text, parsed; `what` names the input in errors. */
export function certificatesIn(pem: string, what: string): CaKeyPair[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw badInput(`${what}: no PEM certificate in it`);
  return blocks.map((b, i) => {
    try {
      return caKeyPairFrom(b);
    } catch (e) {
      throw badInput(`${what}: certificate ${i + 1} cannot be parsed`, e);
    }
  });
}

const spki = (k: KeyObject): Buffer => createPublicKey(k).export({ type: "spki", format: "der" });

/** Is it a CA certificate (basicConstraints CA:true, and keyCertSign when key usage is there)? */
function isCaCert(pair: CaKeyPair): boolean {
  const bc = pair.cert.getExtension(x509.BasicConstraintsExtension);
  const ku = pair.cert.getExtension(x509.KeyUsagesExtension);
  return bc?.ca === true && (ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0);
}

export interface UpstreamImportParams {
  pending: PendingIntermediate;
  /** The signed intermediate, PEM (one certificate). */
  intermediatePem: string;
  /** The upstream root(s), PEM: self-signed CA certificates; they become the trust bundle. */
  upstreamPem: string;
  now: Date;
}

/**
 * The CA completed with the operator-signed intermediate: the upstream root(s) as the (offline) roots, the intermediate
 * with the pending key. Checks, each refused with a clear error: the certificate is for the pending key, is a CA that
 * may issue leaves, is valid now, and is signed by one of the given roots, which are self-signed CA certificates whose
 * path length allows an intermediate below them. Pure (no I/O).
 */
export function completeWithUpstream(p: UpstreamImportParams): Authority {
  const given = certificatesIn(p.intermediatePem, "--import-intermediate");
  if (given.length > 1) {
    throw badInput("--import-intermediate: give only the intermediate certificate (an intermediate signed by another upstream intermediate is not supported: have it signed by the root in --upstream-bundle)");
  }
  const intermediate = given[0] as CaKeyPair;
  const node = new NodeX509Certificate(intermediate.certPem);
  if (!node.publicKey.export({ type: "spki", format: "der" }).equals(spki(p.pending.privateKey))) {
    throw badInput("--import-intermediate: this certificate is not for the pending intermediate's key (was it signed from the CSR this store wrote? a newer --intermediate-csr replaces the key)");
  }
  if (!isCaCert(intermediate)) throw badInput("--import-intermediate: not a CA certificate (it needs basicConstraints CA:TRUE, and keyCertSign when it has a key usage)");
  const t = p.now.getTime();
  const { notBefore, notAfter } = intermediate.cert;
  if (t < notBefore.getTime() || t > notAfter.getTime()) {
    throw badInput(`--import-intermediate: not valid now (valid ${notBefore.toISOString()} to ${notAfter.toISOString()})`);
  }
  const roots = certificatesIn(p.upstreamPem, "--upstream-bundle");
  for (const [i, r] of roots.entries()) {
    const rn = new NodeX509Certificate(r.certPem);
    if (!isCaCert(r) || !rn.checkIssued(rn) || !rn.verify(rn.publicKey)) {
      throw badInput(`--upstream-bundle: certificate ${i + 1} (${r.cert.subject}) is not a self-signed CA certificate (give the upstream root)`);
    }
  }
  const signer = roots.find((r) => {
    const rn = new NodeX509Certificate(r.certPem);
    return node.checkIssued(rn) && node.verify(rn.publicKey);
  });
  if (!signer) throw badInput(`--import-intermediate: not signed by any root in --upstream-bundle (issuer ${intermediate.cert.issuer})`);
  const pathLen = signer.cert.getExtension(x509.BasicConstraintsExtension)?.pathLength;
  if (pathLen !== undefined && pathLen < 1) {
    throw badInput(`--upstream-bundle: the root ${signer.cert.subject} has pathlen ${pathLen}: it may not have an intermediate CA below it`);
  }
  intermediate.privateKey = p.pending.privateKey;
  caKeyAlgorithm(intermediate); // a key this CA can sign with (throws otherwise)
  return {
    trustDomain: p.pending.trustDomain,
    name: p.pending.name,
    roots: [signer, ...roots.filter((r) => r !== signer)],
    intermediate,
    defaultKeyAlgorithm: p.pending.defaultKeyAlgorithm,
    maxLeafTtlSeconds: p.pending.maxLeafTtlSeconds,
    createdAt: p.now,
  };
}

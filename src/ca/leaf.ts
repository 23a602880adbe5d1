/**
 * Leaf issuance, fast path. Everything that is the same for every leaf of one intermediate (issuer Name, signature
 * AlgorithmIdentifier, basicConstraints, key usage, extended key usage, authority key identifier) is DER-encoded
 * once per intermediate; per leaf only the serial, validity, subject CN, public key, SKI and SAN are encoded by hand,
 * and the TBSCertificate is signed synchronously with node:crypto. leaf-reference.ts builds the same certificate
 * with @peculiar/x509; a unit test holds the two to the same fields.
 */
import { sign, X509Certificate as NodeX509Certificate, type KeyObject } from "node:crypto";
import { badInput, MtlsError, printable } from "../errors.js";
import { formatDuration } from "../config/duration.js";
import { MIN_LEAF_TTL_SECONDS } from "../config/leaf-ttl.js";
import { caKeyAlgorithm, certDer, certFingerprint } from "./authority.js";
import { bitString, children, derTime, nodeBytes, oid, pemEncode, readNode, seq, tlv, TAG, unsignedInteger } from "./der.js";
import { fingerprint, subjectKeyIdentifier } from "./fingerprint.js";
import { generateLeafKey, generateLeafKeySync, KEY_ALGORITHM_PROFILES, type LeafKey } from "./keys.js";
import { adminSpiffeId, ipAddressBytes, isAdminSpiffeId, parseKeyAlgorithm, validateDnsName, validateIdentity, validateIpAddress, validateSpiffeId, validateUri } from "./names.js";
import { randomSerial } from "./serial.js";
import type { Authority, CaKeyPair, IssuedLeaf, KeyAlgorithm, LeafIssueParams } from "./types.js";
import { x509 } from "./x509.js";

export const DEFAULT_LEAF_TTL_SECONDS = 24 * 3600;
export const DEFAULT_SKEW_SECONDS = 60;

/** A leaf request after validation: exactly what goes into the certificate. */
export interface LeafPlan {
  identity: string;
  dnsNames: string[];
  uris: string[];
  ipAddresses: string[];
  keyAlgorithm: KeyAlgorithm;
  /** Whole seconds. */
  notBefore: Date;
  /** Whole seconds; the earliest of now + ttl and the intermediate's notAfter. */
  notAfter: Date;
}

/** Validates a leaf request against the authority and works out the validity window. Pure but for the default clock. */
export function planLeaf(a: Authority, p: LeafIssueParams): LeafPlan {
  const identity = validateIdentity(p.identity);
  const keyAlgorithm = parseKeyAlgorithm(p.keyAlgorithm ?? a.defaultKeyAlgorithm);
  const dnsNames = [...new Set((p.dnsNames ?? []).map(validateDnsName))];
  const uris = (p.uris ?? []).map(validateUri);
  if (p.spiffeId !== undefined) uris.unshift(validateSpiffeId(p.spiffeId));
  const uniqueUris = [...new Set(uris)];
  const ipAddresses = [...new Set((p.ipAddresses ?? []).map(validateIpAddress))];
  checkLeafRole(a, p.role ?? "workload", identity, [...dnsNames, ...ipAddresses], uniqueUris);
  const ttl = p.ttlSeconds ?? DEFAULT_LEAF_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw badInput(`ttl must be a positive whole number of seconds (got ${printable(ttl)})`);
  // The one minimum, checked again here whatever path the lifetime came by (CLI, label, config, CSR signing).
  const minTtl = p.minTtlSeconds ?? MIN_LEAF_TTL_SECONDS;
  if (ttl < minTtl) throw badInput(`ttl ${formatDuration(ttl)} is shorter than the minimum of ${formatDuration(minTtl)}`);
  if (ttl > a.maxLeafTtlSeconds) {
    throw badInput(`ttl ${formatDuration(ttl)} is over the CA maximum of ${formatDuration(a.maxLeafTtlSeconds)}`);
  }
  const skew = p.skewSeconds ?? DEFAULT_SKEW_SECONDS;
  if (!Number.isSafeInteger(skew) || skew < 0) throw badInput(`clock skew allowance must be whole seconds >= 0 (got ${printable(skew)})`);
  const nowMs = Math.floor((p.now ?? new Date()).getTime() / 1000) * 1000;
  const issuerNotAfterMs = a.intermediate.cert.notAfter.getTime();
  if (issuerNotAfterMs <= nowMs) {
    throw new MtlsError(
      "internal",
      `the intermediate CA expired at ${a.intermediate.cert.notAfter.toISOString()}; rotate the CA (swarm-mtls rotate-ca)`,
    );
  }
  return {
    identity,
    dnsNames,
    uris: uniqueUris,
    ipAddresses,
    keyAlgorithm,
    notBefore: new Date(nowMs - skew * 1000),
    notAfter: new Date(Math.min(nowMs + ttl * 1000, issuerNotAfterMs)),
  };
}

/**
 * Admin SPIFFE IDs (`/admin/...`) go into admin certificates only: a workload certificate naming one is refused
 * whatever asked for it (labels, config `uris`, a CSR, `issue --uri`); an admin certificate carries exactly
 * `spiffe://<td>/admin/<identity>` of this CA's trust domain and no DNS name.
 */
function checkLeafRole(a: Authority, role: "workload" | "admin", identity: string, dnsNames: string[], uris: string[]): void {
  if (role === "admin") {
    const want = adminSpiffeId(a.trustDomain, identity);
    if (dnsNames.length > 0) throw badInput(`an admin certificate has no DNS names or IP addresses (got ${dnsNames.join(", ")})`);
    if (uris.length !== 1 || uris[0] !== want) throw badInput(`an admin certificate carries exactly one URI, ${want} (got ${uris.map((u) => printable(u)).join(", ") || "none"})`);
    return;
  }
  const admin = uris.find(isAdminSpiffeId);
  if (admin !== undefined) {
    throw badInput(`URI '${printable(admin)}' is an admin SPIFFE ID (/admin/...), which only admin certificates carry (swarm-mtls issue NAME --admin), never a service's`);
  }
}

// --- per-intermediate template -------------------------------------------------------------------------------------

const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const CRITICAL = Buffer.from([0x01, 0x01, 0xff]);
const OID_CN = oid("2.5.4.3");
const OID_SAN = oid("2.5.29.17");
const OID_SKI = oid("2.5.29.14");

const extension = (extnId: Buffer, critical: boolean, value: Buffer): Buffer =>
  critical ? seq(extnId, CRITICAL, tlv(TAG.OCTET_STRING, value)) : seq(extnId, tlv(TAG.OCTET_STRING, value));

/** basicConstraints CA:FALSE, critical. */
const BASIC_CONSTRAINTS = extension(oid("2.5.29.19"), true, seq());
/** keyUsage digitalSignature, critical. */
const KU_SIGNATURE = extension(oid("2.5.29.15"), true, Buffer.from([0x03, 0x02, 0x07, 0x80]));
/** keyUsage digitalSignature + keyEncipherment, critical (RSA leaves). */
const KU_SIGNATURE_ENCIPHERMENT = extension(oid("2.5.29.15"), true, Buffer.from([0x03, 0x02, 0x05, 0xa0]));
/** extKeyUsage serverAuth + clientAuth. */
const EKU = extension(oid("2.5.29.37"), false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2")));

/** What one intermediate contributes to every leaf, encoded once. */
interface IssuerTemplate {
  /** signature AlgorithmIdentifier + issuer Name, contiguous as they are in the TBSCertificate. */
  sigAlgAndIssuer: Buffer;
  signatureAlgorithm: Buffer;
  /** BC + KU + EKU + AKI for leaves without / with keyEncipherment. */
  fixedExtensions: { signature: Buffer; encipherment: Buffer };
  digest: "sha256" | "sha384" | null;
  key: KeyObject;
  fingerprint: string;
  certPem: string;
}

const templates = new WeakMap<CaKeyPair, IssuerTemplate>();

/** The subject Name DER of a certificate, byte for byte (used as the issuer Name of its leaves). */
export function subjectNameDer(der: Buffer): Buffer {
  const tbs = children(der, readNode(der, 0))[0];
  if (tbs === undefined) throw new RangeError("certificate has no TBSCertificate");
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  if (subject === undefined) throw new RangeError("certificate has no subject");
  return nodeBytes(der, subject);
}

/** The key identifier of a CA certificate: its SKI extension, else computed from its public key. */
export function caKeyIdentifier(pair: CaKeyPair): Buffer {
  const ski = pair.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return Buffer.from(ski.keyId, "hex");
  return subjectKeyIdentifier(Buffer.from(pair.cert.publicKey.rawData));
}

function issuerTemplate(a: Authority): IssuerTemplate {
  const issuer = a.intermediate;
  const cached = templates.get(issuer);
  if (cached !== undefined) return cached;
  if (issuer.privateKey === undefined) throw new MtlsError("internal", "the intermediate CA key is not loaded");
  const profile = KEY_ALGORITHM_PROFILES[caKeyAlgorithm(issuer)];
  const aki = extension(oid("2.5.29.35"), false, seq(tlv(0x80, caKeyIdentifier(issuer))));
  const template: IssuerTemplate = {
    sigAlgAndIssuer: Buffer.concat([profile.signatureAlgorithmDer, subjectNameDer(certDer(issuer))]),
    signatureAlgorithm: profile.signatureAlgorithmDer,
    fixedExtensions: {
      signature: Buffer.concat([BASIC_CONSTRAINTS, KU_SIGNATURE, EKU, aki]),
      encipherment: Buffer.concat([BASIC_CONSTRAINTS, KU_SIGNATURE_ENCIPHERMENT, EKU, aki]),
    },
    digest: profile.digest,
    key: issuer.privateKey,
    fingerprint: certFingerprint(issuer),
    certPem: issuer.certPem,
  };
  templates.set(issuer, template);
  return template;
}

// --- per-leaf encoding ---------------------------------------------------------------------------------------------

/** The subject Name of a leaf: one RDN, CN = identity as UTF8String. */
export function leafSubjectDer(identity: string): Buffer {
  return seq(tlv(TAG.SET, seq(OID_CN, tlv(TAG.UTF8_STRING, Buffer.from(identity, "utf8")))));
}

/** The subjectAltName extension value for DNS names, URIs (both ASCII after validation) and IP addresses. */
function sanExtension(dnsNames: string[], uris: string[], ipAddresses: string[]): Buffer {
  const names: Buffer[] = [];
  for (const d of dnsNames) names.push(tlv(0x82, Buffer.from(d, "latin1")));
  for (const u of uris) names.push(tlv(0x86, Buffer.from(u, "latin1")));
  for (const ip of ipAddresses) names.push(tlv(0x87, ipAddressBytes(ip)));
  return extension(OID_SAN, false, seq(...names));
}

/** Builds and signs one leaf certificate DER from a plan, a public key and a serial. */
export function encodeLeaf(a: Authority, plan: LeafPlan, spkiDer: Buffer, serial: Buffer = randomSerial()): Buffer {
  const t = issuerTemplate(a);
  const ski = extension(OID_SKI, false, tlv(TAG.OCTET_STRING, subjectKeyIdentifier(spkiDer)));
  const extensions = [
    KEY_ALGORITHM_PROFILES[plan.keyAlgorithm].keyEncipherment ? t.fixedExtensions.encipherment : t.fixedExtensions.signature,
    ski,
  ];
  if (plan.dnsNames.length > 0 || plan.uris.length > 0 || plan.ipAddresses.length > 0) extensions.push(sanExtension(plan.dnsNames, plan.uris, plan.ipAddresses));
  const tbs = seq(
    VERSION_V3,
    unsignedInteger(serial),
    t.sigAlgAndIssuer,
    seq(derTime(plan.notBefore), derTime(plan.notAfter)),
    leafSubjectDer(plan.identity),
    spkiDer,
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign(t.digest, tbs, t.key);
  return seq(tbs, t.signatureAlgorithm, bitString(signature));
}

function issued(a: Authority, plan: LeafPlan, der: Buffer, keyPem?: string): IssuedLeaf {
  const t = issuerTemplate(a);
  const certPem = pemEncode(der, "CERTIFICATE");
  const leaf: IssuedLeaf = {
    certPem,
    chainPem: certPem + t.certPem + (a.chain ?? []).map((c) => c.certPem).join(""),
    serial: serialHexOf(der),
    fingerprint: fingerprint(der),
    notBefore: plan.notBefore,
    notAfter: plan.notAfter,
    issuerFingerprint: t.fingerprint,
    keyAlgorithm: plan.keyAlgorithm,
    dnsNames: plan.dnsNames,
    uris: plan.uris,
  };
  if (keyPem !== undefined) leaf.keyPem = keyPem;
  return leaf;
}

/** Serial of a certificate DER, lower-case hex without the DER sign byte. */
function serialHexOf(der: Buffer): string {
  const tbs = children(der, readNode(der, 0))[0] as ReturnType<typeof readNode>;
  const fields = children(der, tbs);
  const serial = fields[fields[0]?.tag === 0xa0 ? 1 : 0] as ReturnType<typeof readNode>;
  let start = serial.contentStart;
  if (der[start] === 0 && serial.end - start > 1) start++;
  return der.subarray(start, serial.end).toString("hex");
}

/** Issues a leaf with a fresh key pair, all on the calling thread (fastest; blocks for RSA key generation). */
export function issueLeafSync(a: Authority, p: LeafIssueParams): IssuedLeaf {
  const plan = planLeaf(a, p);
  const key: LeafKey = generateLeafKeySync(plan.keyAlgorithm);
  return issued(a, plan, encodeLeaf(a, plan, key.spkiDer), key.keyPem);
}

/** Issues a leaf with a fresh key pair; key generation runs on the thread pool. */
export async function issueLeaf(a: Authority, p: LeafIssueParams): Promise<IssuedLeaf> {
  const plan = planLeaf(a, p);
  const key = await generateLeafKey(plan.keyAlgorithm);
  return issued(a, plan, encodeLeaf(a, plan, key.spkiDer), key.keyPem);
}

/** Issues a leaf for a public key someone else holds (CSR signing); keyPem is absent in the result. */
export function issueLeafForPublicKey(a: Authority, plan: LeafPlan, spkiDer: Buffer): IssuedLeaf {
  return issued(a, plan, encodeLeaf(a, plan, spkiDer));
}

/** Checks that a leaf chains to the authority's intermediate (signature only; for tests and self-checks). */
export function leafVerifies(a: Authority, certPem: string): boolean {
  return new NodeX509Certificate(certPem).verify(new NodeX509Certificate(a.intermediate.certPem).publicKey);
}

/**
 * The policy of `POST /v1/sign`: which names a signed CSR may carry. A certificate is only signed for a known identity
 * (an opted-in service in swarm mode, a configured identity in embedded mode) and only with names that identity is
 * given anyway (its default and label/config DNS names, its SPIFFE ID and configured URIs). A CSR that asks for a CA
 * certificate, or whose requested names fall outside the policy, is refused: nothing is signed.
 */
import { validateDnsName } from "../ca/index.js";
import { x509 } from "../ca/x509.js";

import { badInput, printable } from "../errors.js";

/** What one identity is allowed, as the CA would issue it by itself. */
export interface AllowedIdentity {
  identity: string;
  /** DNS SANs the identity gets (defaults and label/config names), lower-case. */
  dnsNames: string[];
  /** URI SANs the identity gets: its SPIFFE ID first, then configured URIs. */
  uris: string[];
  /** Lifetime it gets by default, seconds. */
  ttlSeconds: number;
}

/** What a CSR asks for in its extension request (PKCS#9 extensionRequest). */
export interface CsrRequests {
  /** basicConstraints requested: true = CA:TRUE, false = CA:FALSE, null = none. */
  ca: boolean | null;
  dnsNames: string[];
  uris: string[];
  /** SANs of other kinds (IP addresses, e-mail, directory names…), as `type:value`. */
  otherNames: string[];
}

export interface SignRequest {
  identity: string;
  /** Requested DNS names; default the identity's. */
  dnsNames?: string[];
  ttlSeconds?: number;
}

export interface SignPolicyParams {
  request: SignRequest;
  /** The identity as known to this CA; undefined when no such identity exists. */
  allowed: AllowedIdentity | undefined;
  /** What the CSR asks for. */
  csr: CsrRequests;
  /** The CA's maximum leaf lifetime, seconds. */
  maxTtlSeconds: number;
  /** How to say where identities come from, for the unknown-identity message. */
  knownFrom: string;
}

/** The names and lifetime a CSR is signed with. */
export interface SignDecision {
  identity: string;
  dnsNames: string[];
  uris: string[];
  ttlSeconds: number;
}

/**
 * Decides what to sign, or throws MtlsError("bad-input") naming the refused identity, name or extension. Pure.
 */
export function decideSign(p: SignPolicyParams): SignDecision {
  const a = p.allowed;
  if (!a) throw badInput(`identity '${printable(p.request.identity)}' is not a known identity: ${p.knownFrom}; nothing signed`);
  if (p.csr.ca === true) throw badInput("the CSR asks for a CA certificate (basicConstraints CA:TRUE); only leaf certificates are signed");
  const allowedDns = new Set(a.dnsNames.map((n) => n.toLowerCase()));
  const allowedText = `allowed: ${[...allowedDns].join(", ") || "none"}`;
  for (const n of p.csr.dnsNames) {
    if (!allowedDns.has(n.toLowerCase())) throw badInput(`the CSR asks for DNS name '${printable(n)}', which is not a name of identity '${a.identity}' (${allowedText}); nothing signed`);
  }
  for (const u of p.csr.uris) {
    if (!a.uris.includes(u)) throw badInput(`the CSR asks for URI '${printable(u)}', which is not a URI of identity '${a.identity}' (allowed: ${a.uris.join(", ")}); nothing signed`);
  }
  const other = p.csr.otherNames[0];
  if (other !== undefined) throw badInput(`the CSR asks for the name '${printable(other)}'; only DNS names and URIs of the identity are signed`);

  const dnsNames = p.request.dnsNames === undefined ? [...a.dnsNames] : p.request.dnsNames.map((n) => validateDnsName(n));
  for (const n of dnsNames) if (!allowedDns.has(n)) throw badInput(`DNS name '${printable(n)}' is not a name of identity '${a.identity}' (${allowedText}); nothing signed`);
  const ttlSeconds = p.request.ttlSeconds ?? Math.min(a.ttlSeconds, p.maxTtlSeconds);
  if (ttlSeconds > p.maxTtlSeconds) throw badInput(`ttl ${ttlSeconds}s is over the CA maximum of ${p.maxTtlSeconds}s`);
  return { identity: a.identity, dnsNames: [...new Set(dnsNames)], uris: [...a.uris], ttlSeconds };
}

/**
 * Reads what a PEM CSR asks for in its extension request. Throws MtlsError("bad-input") when it is not a PKCS#10
 * request. Does not check the signature (signing does).
 */
export function csrRequests(csrPem: string): CsrRequests {
  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  try {
    const body = csrPem.replace(/-----(BEGIN|END) NEW CERTIFICATE REQUEST-----/g, "-----$1 CERTIFICATE REQUEST-----");
    csr = new x509.Pkcs10CertificateRequest(body);
  } catch (e) {
    throw badInput("the CSR could not be parsed as PKCS#10", e);
  }
  const out: CsrRequests = { ca: null, dnsNames: [], uris: [], otherNames: [] };
  let extensions: InstanceType<typeof x509.Extension>[];
  try {
    extensions = csr.extensions;
  } catch (e) {
    throw badInput("the CSR's extension request could not be read", e);
  }
  for (const ext of extensions) {
    try {
      if (ext.type === "2.5.29.19") {
        const bc = ext instanceof x509.BasicConstraintsExtension ? ext : new x509.BasicConstraintsExtension(ext.rawData);
        out.ca = bc.ca === true;
      } else if (ext.type === "2.5.29.17") {
        const san = ext instanceof x509.SubjectAlternativeNameExtension ? ext : new x509.SubjectAlternativeNameExtension(ext.rawData);
        for (const n of san.names.items) {
          if (n.type === "dns") out.dnsNames.push(n.value);
          else if (n.type === "url") out.uris.push(n.value);
          else out.otherNames.push(`${n.type}:${n.value}`);
        }
      }
    } catch (e) {
      throw badInput(`the CSR's requested extension ${ext.type} could not be read`, e);
    }
  }
  return out;
}

/**
 * Contract of the CA core (src/ca). Pure crypto, no Docker, no file I/O.
 * Everything here is what the rest of swarm-mtls (store, rotation, api, cli) relies on.
 */

import type { KeyObject } from "node:crypto";
import type { X509Certificate } from "@peculiar/x509";

import type { KeyAlgorithm } from "../config/key-algorithm.js";

export { KEY_ALGORITHMS, type KeyAlgorithm } from "../config/key-algorithm.js";

/** What an operator sees of one CA certificate (`swarm-mtls ca show`, `GET /v1/ca`). */
export interface CaCertificateInfo {
  role: "root" | "intermediate";
  subject: string;
  issuer: string;
  serial: string;
  /** SHA-256 of the DER, lower-case hex without separators. */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  keyAlgorithm: KeyAlgorithm;
  /** false when the key is not held online (offline root). */
  keyOnline: boolean;
  pem: string;
}

/** A leaf as issued: everything the publisher writes into secrets and labels. */
export interface IssuedLeaf {
  /** Leaf certificate PEM alone. */
  certPem: string;
  /** Leaf + intermediate, PEM; what goes into tls.crt. */
  chainPem: string;
  /** PKCS#8 PEM of the leaf key; absent when the leaf was signed from a CSR. Never log it. */
  keyPem?: string;
  /** Serial, lower-case hex, no separators. */
  serial: string;
  /** SHA-256 of the leaf DER, lower-case hex. */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  /** Fingerprint of the issuing intermediate. */
  issuerFingerprint: string;
  keyAlgorithm: KeyAlgorithm;
  dnsNames: string[];
  uris: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Authority (root + intermediate) and the parameter objects of the CA functions.


/** One CA certificate with its key. */
export interface CaKeyPair {
  /** The certificate, PEM, with a trailing newline. */
  certPem: string;
  /** The parsed certificate (@peculiar/x509). */
  cert: X509Certificate;
  /** The private key; absent for an offline root. Never log it. */
  privateKey?: KeyObject;
  /**
   * Read without the KEK (readPublicAuthority): the store holds this certificate's key, sealed, and it was not
   * opened. Absent otherwise.
   */
  keySealed?: boolean;
}

/** A loaded certificate authority: the trusted roots and the online intermediate that issues leaves. */
export interface Authority {
  /** SPIFFE trust domain the CA issues for. */
  trustDomain: string;
  /** Name written into CA subjects (CN/O); default "swarm-mtls". */
  name: string;
  /** Trusted roots, newest first. The intermediate is signed by one of them. During a CA rotation there are two. */
  roots: CaKeyPair[];
  /** The issuing CA; always has its private key. */
  intermediate: CaKeyPair;
  /**
   * Certificates sent after the intermediate in every leaf chain (tls.crt), e.g. the cross-signed new root during a
   * root rotation so that peers trusting only the old root still verify new leaves. Default none.
   */
  chain?: CaKeyPair[];
  /** Key algorithm of leaves when a request names none. */
  defaultKeyAlgorithm: KeyAlgorithm;
  /** Longest leaf lifetime the CA accepts, in seconds. */
  maxLeafTtlSeconds: number;
  /** When the CA was created. */
  createdAt: Date;
  /**
   * Top-level fields of the sealed CA state this version does not know (e.g. a future `rotation`); written back
   * unchanged by sealAuthority. Default none.
   */
  extraState?: Record<string, unknown>;
}

/** Parameters of createAuthority. */
export interface AuthorityCreateParams {
  /** SPIFFE trust domain; required. */
  trustDomain: string;
  /** Key algorithm of the root, the intermediate and (by default) the leaves; default "ecdsa-p256". */
  keyAlgorithm?: KeyAlgorithm;
  /** Root lifetime in seconds; default 10 years (3650 days). */
  rootTtlSeconds?: number;
  /** Intermediate lifetime in seconds; default 1 year (365 days); never beyond the root. */
  intermediateTtlSeconds?: number;
  /** Longest leaf lifetime the CA will issue; default 7 days. */
  maxLeafTtlSeconds?: number;
  /**
   * Keep the root offline: its private key is returned once, encrypted with this passphrase, and not kept in the
   * authority. Default: the root key stays online (sealed in the CA state).
   */
  offlineRoot?: { passphrase: Uint8Array | string };
  /** Clock; default the current time. */
  now?: Date;
  /** Name written into the CA subjects; default "swarm-mtls". */
  name?: string;
}

/** Parameters of issueLeaf. */
export interface LeafIssueParams {
  /** Certificate identity, the subject CN; required. */
  identity: string;
  /** DNS SANs; default none. Validated and lower-cased; duplicates dropped. */
  dnsNames?: string[];
  /** URI SANs; default none. */
  uris?: string[];
  /** IP address SANs (IPv4, IPv6); default none. Validated and canonicalised; duplicates dropped. */
  ipAddresses?: string[];
  /** SPIFFE ID to add as a URI SAN (first) when not already in `uris`; default none. */
  spiffeId?: string;
  /** Lifetime in seconds; default 24 hours. Over the CA's maximum is an error. */
  ttlSeconds?: number;
  /**
   * The shortest lifetime allowed; default the one minimum (5m). Only the SDS working tier lowers it, and only under
   * its test-only floor variable.
   */
  minTtlSeconds?: number;
  /** Leaf key algorithm; default the authority's. */
  keyAlgorithm?: KeyAlgorithm;
  /** Clock; default the current time. */
  now?: Date;
  /** notBefore is backdated this much against clock skew; default 60 seconds. */
  skewSeconds?: number;
  /**
   * `admin`: an administrator's client certificate, whose one URI SAN is `spiffe://<td>/admin/<name>` and which has
   * no DNS name. Default `workload`, which may never carry an admin SPIFFE ID.
   */
  role?: "workload" | "admin";
}

/** Parameters of signCsr: the names come from here, only the public key comes from the CSR. */
export interface CsrSignParams extends Omit<LeafIssueParams, "keyAlgorithm"> {
  /** The PKCS#10 request, PEM; required. Its subject and requested extensions are ignored. */
  csrPem: string;
}

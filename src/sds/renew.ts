/**
 * `POST /v1/renew`: a workload without Envoy renews its own certificate, `step ca renew` style. It presents its
 * current certificate (the TLS client certificate of the request) and sends a CSR; it gets a certificate for the same
 * identity, with the names and lifetime SDS would give it (the identity's DNS names and SPIFFE ID, `sds.workingTtl`).
 * The identity comes from the presented certificate, never from the CSR: the CSR only proves possession of the new
 * key, and may ask for no names or for names of the identity only. The key stays on the client.
 *
 * Who may renew is decided here, pure (`decideRenew`); `createRenewer` is the thin adapter that signs and audits.
 */
import { signCsr, type Authority } from "../ca/index.js";
import { MtlsError, printable } from "../errors.js";
import type { Logger } from "../log.js";
import { auditRecord, writeAudit } from "../rotation/audit-record.js";
import { csrRequests, decideSign, type CsrRequests } from "../rotation/sign-policy.js";
import { sdsCaller } from "./sds-access.js";
import { MIN_WORKING_TTL_SECONDS, workingTtlFloor, type SdsIdentity } from "./working-cert.js";

/** The TLS client certificate of a renew request, as the API's socket reports it. */
export interface RenewPeer {
  /** The TLS layer's verdict on the chain against the CA's trust bundle. */
  authorized: boolean;
  /** Why it is not authorized (Node's code, e.g. CERT_HAS_EXPIRED); absent when authorized. */
  authorizationError?: string;
  /** The certificate's subjectAltName as Node prints it. */
  subjectAltName?: string;
  notBefore?: Date;
  notAfter?: Date;
}

export type RenewDecision =
  | { ok: true; identity: SdsIdentity }
  | { ok: false; code: "unauthorized" | "forbidden" | "bad-input"; message: string };

/** Node's verification errors, said as an operator reads them. Pure. */
export function describeTlsRefusal(error: string | undefined): string {
  switch (error) {
    case "CERT_HAS_EXPIRED":
      return "the client certificate has expired: a certificate can only be renewed while it is valid; get a new bootstrap certificate";
    case "CERT_NOT_YET_VALID":
      return "the client certificate is not valid yet";
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return "the client certificate is self-signed, not issued by this CA";
    default:
      return `the client certificate does not chain to this CA's trust bundle (${printable(error ?? "unverified", 60)}); send the whole chain (leaf and intermediate) issued by this CA`;
  }
}

/**
 * May the holder of this client certificate renew it with this CSR? The certificate must have been verified against
 * the CA's bundle, be valid now and carry exactly one SPIFFE ID of the trust domain; that identity must be opted in
 * to SDS now (`identity` answers for the current list); the CSR must be a PKCS#10 request that asks neither for a CA
 * certificate nor for a name the identity does not have. Pure.
 */
export function decideRenew(p: {
  peer: RenewPeer | null;
  trustDomain: string;
  identity: SdsIdentity | undefined;
  /** The CSR, PEM: read only once the caller is known (an unauthenticated body is never parsed further). */
  csrPem: string;
  now: Date;
}): RenewDecision {
  if (!p.peer) return { ok: false, code: "unauthorized", message: "renewing needs the current certificate as the TLS client certificate (curl --cert/--key) over HTTPS" };
  if (!p.peer.authorized) return { ok: false, code: "unauthorized", message: describeTlsRefusal(p.peer.authorizationError) };
  const caller = sdsCaller(p.peer, p.trustDomain, p.now);
  if (!caller.ok) return { ok: false, code: "unauthorized", message: caller.message };
  const id = p.identity;
  if (!id || id.spiffeId !== caller.spiffeId) {
    return { ok: false, code: "forbidden", message: `${caller.spiffeId} is not opted in to SDS (labels mtls.enable=true and mtls.sds=true, or sds: true in identities:); only those identities renew over POST /v1/renew` };
  }
  try {
    const csr: CsrRequests = csrRequests(p.csrPem);
    decideSign({
      request: { identity: id.identity },
      allowed: { identity: id.identity, dnsNames: id.dnsNames, uris: [id.spiffeId], ttlSeconds: 0 },
      csr,
      maxTtlSeconds: Number.MAX_SAFE_INTEGER,
      knownFrom: "",
    });
  } catch (e) {
    return { ok: false, code: "bad-input", message: (e as Error).message };
  }
  return { ok: true, identity: id };
}

export interface RenewRequest {
  peer: RenewPeer | null;
  csrPem: string;
}

export interface Renewed {
  /** The new certificate and its intermediate, PEM. */
  chainPem: string;
  serial: string;
  notAfter: Date;
}

export interface Renewer {
  renew(r: RenewRequest): Promise<Renewed>;
}

export interface RenewerParams {
  authority: () => Authority | null;
  /** The identity opted in to SDS with this SPIFFE ID now (may re-read the list once), or undefined. */
  identity: (spiffeId: string) => Promise<SdsIdentity | undefined>;
  workingTtlSeconds: number;
  logger: Logger;
  /** Called with the key algorithm of each renewed certificate (serve's issuance metric). */
  issued?: (keyAlgorithm: string) => void;
  env?: Record<string, string | undefined>;
  now?: () => Date;
}

/** Signs renewals: decides (decideRenew), signs the CSR's key with the identity's names, writes one audit record. */
export function createRenewer(p: RenewerParams): Renewer {
  const now = p.now ?? (() => new Date());
  const minTtlSeconds = Math.min(MIN_WORKING_TTL_SECONDS, workingTtlFloor(p.env ?? process.env));
  return {
    async renew(r) {
      const a = p.authority();
      if (!a) throw new MtlsError("no-ca", "the CA is not loaded yet; retry");
      const caller = r.peer?.authorized ? sdsCaller(r.peer, a.trustDomain, now()) : null;
      let known: SdsIdentity | undefined;
      try {
        known = caller?.ok ? await p.identity(caller.spiffeId) : undefined;
        const d = decideRenew({ peer: r.peer, trustDomain: a.trustDomain, identity: known, csrPem: r.csrPem, now: now() });
        if (!d.ok) throw new MtlsError(d.code, d.message);
        const id = d.identity;
        const leaf = await signCsr(a, { csrPem: r.csrPem, identity: id.identity, dnsNames: id.dnsNames, uris: [id.spiffeId], ttlSeconds: Math.min(p.workingTtlSeconds, a.maxLeafTtlSeconds), minTtlSeconds });
        p.issued?.(leaf.keyAlgorithm);
        writeAudit(p.logger, auditRecord({ event: "renew", trigger: `api:${id.spiffeId}`, identity: id.identity, service: id.service, serial: leaf.serial, fingerprint: leaf.fingerprint, result: "ok" }));
        return { chainPem: leaf.chainPem, serial: leaf.serial, notAfter: leaf.notAfter };
      } catch (e) {
        const refused = e instanceof MtlsError && (e.code === "bad-input" || e.code === "unauthorized" || e.code === "forbidden");
        const error = e instanceof MtlsError ? e.message : "internal error";
        const trigger = caller?.ok ? `api:${caller.spiffeId}` : "api";
        writeAudit(p.logger, auditRecord({ event: "renew", trigger, identity: known?.identity ?? null, service: known?.service ?? null, result: refused ? "refused" : "failed", error }));
        throw e;
      }
    },
  };
}

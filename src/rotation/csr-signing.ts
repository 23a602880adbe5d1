import { bundlePem, signCsr, validateIdentity, type Authority } from "../ca/index.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import { auditRecord, writeAudit } from "./audit-record.js";
import type { SignCsrInput, SignedCsr } from "./serving-types.js";
import { csrRequests, decideSign, type AllowedIdentity } from "./sign-policy.js";

export interface CsrSigningDeps {
  authority: Authority;
  logger: Logger;
  /** What the CA would give the identity by itself; undefined when it does not know it. */
  allowed: (identity: string) => Promise<AllowedIdentity | undefined>;
  /** Why an unknown identity is unknown, for the refusal. */
  unknownIdentity: string;
  /** Called with the key algorithm of each signed certificate (metrics). */
  issued?: (keyAlgorithm: string) => void;
}

/**
 * POST /v1/sign: the signing policy decides (pure, `sign-policy.ts`), the CA signs; one audit record whether signed,
 * refused (bad input) or failed.
 */
export async function signForApi(d: CsrSigningDeps, req: SignCsrInput, actor: string): Promise<SignedCsr> {
  const a = d.authority;
  const trigger = `api:${actor}`;
  try {
    const identity = validateIdentity(req.identity);
    const decision = decideSign({
      request: { identity, ...(req.dnsNames ? { dnsNames: req.dnsNames } : {}), ...(req.ttlSeconds !== undefined ? { ttlSeconds: req.ttlSeconds } : {}) },
      allowed: await d.allowed(identity),
      csr: csrRequests(req.csrPem),
      maxTtlSeconds: a.maxLeafTtlSeconds,
      knownFrom: d.unknownIdentity,
    });
    const leaf = await signCsr(a, { csrPem: req.csrPem, identity, dnsNames: decision.dnsNames, uris: decision.uris, ttlSeconds: decision.ttlSeconds });
    d.issued?.(leaf.keyAlgorithm);
    writeAudit(d.logger, auditRecord({ event: "sign", trigger, identity, serial: leaf.serial, fingerprint: leaf.fingerprint, result: "ok" }));
    return { chainPem: leaf.chainPem, serial: leaf.serial, notAfter: leaf.notAfter.toISOString(), bundlePem: bundlePem(a) };
  } catch (e) {
    const refused = e instanceof MtlsError && e.code === "bad-input";
    const error = e instanceof MtlsError ? e.message : "internal error";
    const identity = /^[a-z0-9][a-z0-9._-]{0,62}$/.test(req.identity) ? req.identity : null;
    writeAudit(d.logger, auditRecord({ event: "sign", trigger, identity, serial: null, fingerprint: null, result: refused ? "refused" : "failed", error }));
    throw e;
  }
}

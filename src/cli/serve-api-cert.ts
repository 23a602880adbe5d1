import { isIP } from "node:net";
import { hostname } from "node:os";
import type { SecureContextOptions } from "node:tls";
import { bundlePem, issueLeaf, validateDnsName, validateIpAddress, type Authority } from "../ca/index.js";
import { badInput, printable } from "../errors.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";

/** Lifetime of the API's own certificate (bounded by the CA's maximum leaf lifetime). */
export const API_CERT_TTL_SECONDS = 7 * 86400;
/** The API certificate is renewed once this fraction of its lifetime has passed. */
export const API_CERT_RENEW_AT = 2 / 3;

/** The certificate `serve` presents on its HTTPS listener, and what it was issued from. */
export interface ApiCert {
  key: string;
  cert: string;
  /** Trust bundle used to verify client certificates. */
  ca: string;
  notBefore: Date;
  notAfter: Date;
  /** PEM of the intermediate that issued it: a CA rotation changes it. */
  issuerPem: string;
}

/** When the API certificate is renewed: after `fraction` (default 2/3) of its lifetime. Pure. */
export function apiCertRenewalTime(notBefore: Date, notAfter: Date, fraction = API_CERT_RENEW_AT): Date {
  return new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * fraction);
}

/**
 * Why the API certificate must be renewed now, or null: its renewal time has come, or the CA changed under it
 * (a CA rotation: new intermediate, or a new trust bundle for client certificates). Pure.
 */
export function apiCertRenewalReason(c: Pick<ApiCert, "notBefore" | "notAfter" | "issuerPem" | "ca">, a: Authority, now: Date): "due" | "ca-rotated" | null {
  if (a.intermediate.certPem !== c.issuerPem || bundlePem(a) !== c.ca) return "ca-rotated";
  return now >= apiCertRenewalTime(c.notBefore, c.notAfter) ? "due" : null;
}

/** The names in the API's certificate: what clients may call it by. */
export interface ApiCertNames {
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * The names of the API certificate: localhost, 127.0.0.1 and ::1; this host's name (inside a container, the
 * container's); the listen host unless a wildcard; and every entry of `api.names` — DNS names and IP addresses the
 * operator calls the API by, such as the node's host name that the stack file passes as `{{.Node.Hostname}}`. Pure
 * but for the default host name; MtlsError("bad-input") naming the entry of `api.names` that is neither.
 */
export function apiCertNames(p: { listenHost: string; names?: readonly string[]; hostName?: string }): ApiCertNames;
/** The DNS names only, for a listener given just its host (the SDS listener). */
export function apiCertNames(listenHost: string): string[];
export function apiCertNames(arg: string | { listenHost: string; names?: readonly string[]; hostName?: string }): ApiCertNames | string[] {
  if (typeof arg === "string") return apiCertNames({ listenHost: arg }).dnsNames;
  const p = arg;
  const dns = new Set(["localhost"]);
  const ips = new Set(["127.0.0.1", "::1"]);
  const add = (entry: string, strict: boolean): void => {
    const e = entry.trim();
    if (e === "" || e === "0.0.0.0" || e === "::" || e === "[::]") return;
    try {
      if (isIP(e.replace(/^\[(.*)\]$/, "$1")) !== 0) ips.add(validateIpAddress(e));
      else dns.add(validateDnsName(e));
    } catch (err) {
      if (strict) throw badInput(`api.names: '${printable(e)}' is neither a DNS name nor an IP address (${(err as Error).message})`, err);
    }
  };
  add(p.hostName ?? hostname(), false);
  add(p.listenHost, false);
  for (const n of p.names ?? []) add(n, true);
  return { dnsNames: [...dns], ipAddresses: [...ips] };
}

/** Issues the API's own certificate (identity swarm-mtls-api) from the CA. */
export async function issueApiCert(a: Authority, dnsNames: string[], p: { ttlSeconds?: number; now?: Date; ipAddresses?: string[]; identity?: string; uris?: string[] } = {}): Promise<ApiCert> {
  const leaf = await issueLeaf(a, {
    identity: p.identity ?? "swarm-mtls-api",
    dnsNames,
    ipAddresses: p.ipAddresses ?? [],
    ...(p.uris ? { uris: p.uris } : {}),
    ttlSeconds: Math.min(a.maxLeafTtlSeconds, p.ttlSeconds ?? API_CERT_TTL_SECONDS),
    ...(p.now ? { now: p.now } : {}),
  });
  return { key: leaf.keyPem as string, cert: leaf.chainPem, ca: bundlePem(a), notBefore: leaf.notBefore, notAfter: leaf.notAfter, issuerPem: a.intermediate.certPem };
}

export interface ApiCertRenewalParams {
  /** The HTTPS server (fastify's `app.server`). */
  server: { setSecureContext(options: SecureContextOptions): void };
  /** The certificate served now. */
  current: ApiCert;
  /** The CA as loaded now (serve re-reads it on every reconcile, so a CA rotation shows here). */
  authority: () => Authority | null;
  dnsNames: string[];
  /** IP address SANs; default none. */
  ipAddresses?: string[];
  logger: Logger;
  /** How often to look; default every minute. */
  checkEveryMs?: number;
  ttlSeconds?: number;
  now: Clock;
  /** Identity (CN) and URI SANs of the certificate; default swarm-mtls-api, none (the SDS listener sets both). */
  identity?: string;
  uris?: (a: Authority) => string[];
}

/**
 * Keeps the API certificate fresh while serve runs: renews it at 2/3 of its lifetime and after a CA rotation, and
 * swaps it into the running listener (new connections get the new certificate; open ones keep theirs).
 * A failed renewal is logged and retried on the next check; the current certificate keeps being served.
 */
export function keepApiCertFresh(p: ApiCertRenewalParams): { check(): Promise<"due" | "ca-rotated" | null>; current(): ApiCert; stop(): void } {
  const now = p.now;
  const log = p.logger.child({ component: "api-cert" });
  let current = p.current;
  let busy = false;
  const check = async (): Promise<"due" | "ca-rotated" | null> => {
    const a = p.authority();
    if (!a || busy) return null;
    const reason = apiCertRenewalReason(current, a, now());
    if (!reason) return null;
    busy = true;
    try {
      const next = await issueApiCert(a, p.dnsNames, {
        ttlSeconds: p.ttlSeconds,
        now: now(),
        ipAddresses: p.ipAddresses ?? [],
        ...(p.identity ? { identity: p.identity } : {}),
        ...(p.uris ? { uris: p.uris(a) } : {}),
      });
      p.server.setSecureContext({ key: next.key, cert: next.cert, ca: next.ca });
      current = next;
      log.info({ reason, notAfter: next.notAfter.toISOString() }, "API certificate renewed");
      return reason;
    } catch (e) {
      log.error({ reason, err: (e as Error).message }, "API certificate renewal failed; retrying at the next check");
      return null;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void check(), p.checkEveryMs ?? 60_000);
  timer.unref();
  return { check, current: () => current, stop: () => clearInterval(timer) };
}

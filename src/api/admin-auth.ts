/**
 * Who may call the admin routes (rotate, sign): the holder of the admin bearer token, or a client whose certificate
 * was verified against the server's CA and carries an admin SPIFFE ID (`spiffe://<td>/admin/<name>`) listed in
 * `api.adminIdentities`.
 * Pure functions plus one small adapter over the request's TLS socket.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { adminSpiffeId, isAdminSpiffeId, validateSpiffeId } from "../ca/names.js";
import { badInput, printable } from "../errors.js";

/** The actor recorded in the audit log when the bearer token was used. */
export const TOKEN_ACTOR = "token";

/**
 * Constant-time comparison of a presented token with the expected one. Both are hashed first so that neither the
 * content nor the length of the expected token leaks through timing.
 */
export function tokenMatches(expected: string, presented: string): boolean {
  const a = createHash("sha256").update(expected, "utf8").digest();
  const b = createHash("sha256").update(presented, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header; null when absent, another scheme, or empty. */
export function bearerTokenFrom(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1] ?? null;
}

/** URI SANs of a peer certificate as Node reports them (`subjectaltname`: `DNS:a, URI:spiffe://td/x`). */
export function uriSansOf(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === "") return [];
  const uris: string[] = [];
  // Node quotes a value as a JSON string when it contains separators; otherwise it is bare up to ", ".
  const re = /(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = re.exec(subjectAltName); m !== null; m = re.exec(subjectAltName)) {
    const raw = m[1] ?? "";
    if (raw.startsWith('"')) {
      try {
        uris.push(JSON.parse(raw) as string);
      } catch {
        // malformed quoting: ignore this entry rather than guess
      }
    } else {
      uris.push(raw);
    }
  }
  return uris;
}

/**
 * The admin SPIFFE IDs `api.adminIdentities` means: an admin name `alice` is `spiffe://<td>/admin/alice`; a full ID
 * must be an admin ID of this trust domain. Anything else (a service's SPIFFE ID, a CN) is refused: admin is granted
 * only to certificates made by `issue NAME --admin`, never to a workload's. Pure; MtlsError("bad-input").
 */
export function adminSpiffeIds(entries: readonly string[], trustDomain: string): string[] {
  return [...new Set(entries.map((raw) => {
    const e = raw.trim();
    if (!e.startsWith("spiffe://")) {
      try {
        return adminSpiffeId(trustDomain, e);
      } catch (err) {
        throw badInput(`api.adminIdentities: '${printable(e)}' is not an admin name (a-z 0-9 . _ -) nor spiffe://${trustDomain}/admin/<name>; admin client certificates come from swarm-mtls issue NAME --admin`, err);
      }
    }
    if (!isAdminSpiffeId(e) || !e.startsWith(`spiffe://${trustDomain}/admin/`)) {
      throw badInput(`api.adminIdentities: '${printable(e)}' is not an admin SPIFFE ID of this CA (spiffe://${trustDomain}/admin/<name>); a service's identity never grants admin`);
    }
    return validateSpiffeId(e);
  }))];
}

/**
 * The admin identity a verified client certificate proves, or null. `authorized` is the TLS socket's verdict on the
 * chain (against the server's `ca`); an unverified certificate grants nothing whatever it names. Only an admin
 * SPIFFE ID (URI SAN `spiffe://<td>/admin/<name>`) listed in `adminIdentities` counts; the subject CN never does
 * (it is the label-chosen identity of any workload).
 */
export function adminFromPeerCertificate(
  authorized: boolean,
  cert: Pick<PeerCertificate, "subjectaltname"> | null,
  adminIdentities: readonly string[],
): string | null {
  if (!authorized || cert === null || adminIdentities.length === 0) return null;
  for (const uri of uriSansOf(cert.subjectaltname)) if (isAdminSpiffeId(uri) && adminIdentities.includes(uri)) return uri;
  return null;
}

export interface AdminAuthCreateParams {
  /** The admin bearer token; null disables token auth. */
  adminToken: string | null;
  /** Admin SPIFFE IDs (`spiffe://<td>/admin/<name>`, see adminSpiffeIds) whose verified client certificate grants admin; default none. */
  adminIdentities?: readonly string[];
}

/** What the adapter needs of a request: the Authorization header and the socket it came on. */
export interface AdminAuthRequest {
  headers: { authorization?: string | undefined };
  socket: unknown;
}

/** Builds the check run before admin routes: returns the actor (`token` or the client identity), or null. */
export function createAdminAuth(params: AdminAuthCreateParams): (req: AdminAuthRequest) => string | null {
  const token = params.adminToken;
  const identities = params.adminIdentities ?? [];
  return (req) => {
    const presented = bearerTokenFrom(req.headers.authorization);
    if (token !== null && presented !== null && tokenMatches(token, presented)) return TOKEN_ACTOR;
    const socket = req.socket as Partial<TLSSocket> | null;
    if (identities.length > 0 && socket && typeof socket.getPeerCertificate === "function") {
      const cert = socket.getPeerCertificate();
      const present = cert !== null && typeof cert === "object" && Object.keys(cert).length > 0;
      return adminFromPeerCertificate(socket.authorized === true, present ? cert : null, identities);
    }
    return null;
  };
}

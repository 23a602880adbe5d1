/**
 * Who may fetch what over SDS. Pure.
 *
 * The TLS layer already refused callers without a certificate, with one that does not chain to the CA's trust
 * bundle, or outside its validity (Node checks both). What is decided here: the caller's identity is the one SPIFFE
 * ID in its certificate's URI SANs; it must belong to an identity that is opted in to SDS now; and it may name
 * exactly two secrets: its own working certificate (resource name = its SPIFFE ID) and the trust bundle of its trust
 * domain (`spiffe://<trust-domain>`). Anything else is refused as a whole, with nothing sent.
 */

/** What the server knows about the peer of one call (from the TLS session). */
export interface SdsPeer {
  /** The peer certificate's subjectAltName as Node prints it (`URI:spiffe://…, DNS:…`); undefined without a certificate. */
  subjectAltName?: string;
  /** Validity of the peer certificate. */
  notBefore?: Date;
  notAfter?: Date;
}

export type SdsResourceKind = "working-certificate" | "trust-bundle";

export interface SdsResourceRef {
  name: string;
  kind: SdsResourceKind;
}

export type SdsAccess =
  | { ok: true; spiffeId: string; resources: SdsResourceRef[] }
  | { ok: false; code: "unauthenticated" | "permission-denied" | "invalid-argument"; message: string };

/** The trust bundle's resource name for a trust domain. */
export const bundleResourceName = (trustDomain: string): string => `spiffe://${trustDomain}`;

/** The SPIFFE IDs (URI SANs starting with spiffe://) of a certificate, from Node's subjectAltName text. */
export function spiffeIdsOf(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? "")
    .split(/,\s*/)
    .filter((s) => s.startsWith("URI:spiffe://"))
    .map((s) => s.slice("URI:".length));
}

/** At most this many names in one request: Envoy asks for one per subscription. */
export const MAX_RESOURCE_NAMES = 8;

/**
 * The caller's identity, or why it has none: no certificate, not exactly one SPIFFE ID, outside the trust domain,
 * not yet valid or expired at `now`.
 */
export function sdsCaller(peer: SdsPeer | null, trustDomain: string, now: Date): { ok: true; spiffeId: string } | { ok: false; message: string } {
  if (!peer || peer.subjectAltName === undefined) return { ok: false, message: "a client certificate of this CA is required" };
  const ids = spiffeIdsOf(peer.subjectAltName);
  if (ids.length !== 1) return { ok: false, message: `the client certificate must carry exactly one SPIFFE ID (it has ${ids.length})` };
  const id = ids[0] as string;
  if (!id.startsWith(`${bundleResourceName(trustDomain)}/`)) return { ok: false, message: `the client certificate's SPIFFE ID ${id} is not in the trust domain ${trustDomain}` };
  if (peer.notBefore && now < peer.notBefore) return { ok: false, message: "the client certificate is not valid yet" };
  if (peer.notAfter && now > peer.notAfter) return { ok: false, message: "the client certificate has expired" };
  return { ok: true, spiffeId: id };
}

/**
 * May this peer have these secrets? `optedIn` answers whether a SPIFFE ID belongs to an identity opted in to SDS now.
 * An empty list of names (an xDS wildcard request) is refused: SDS resources are always named.
 */
export function decideSdsAccess(p: { peer: SdsPeer | null; names: readonly string[]; trustDomain: string; optedIn: (spiffeId: string) => boolean; now: Date }): SdsAccess {
  const caller = sdsCaller(p.peer, p.trustDomain, p.now);
  if (!caller.ok) return { ok: false, code: "unauthenticated", message: caller.message };
  if (!p.optedIn(caller.spiffeId)) return { ok: false, code: "permission-denied", message: `${caller.spiffeId} is not opted in to SDS (labels mtls.enable=true and mtls.sds=true)` };
  if (p.names.length === 0) return { ok: false, code: "invalid-argument", message: "name the secrets: wildcard requests are not served" };
  if (p.names.length > MAX_RESOURCE_NAMES) return { ok: false, code: "invalid-argument", message: `at most ${MAX_RESOURCE_NAMES} resource names per request` };
  const bundle = bundleResourceName(p.trustDomain);
  const resources: SdsResourceRef[] = [];
  for (const name of new Set(p.names)) {
    if (name === caller.spiffeId) resources.push({ name, kind: "working-certificate" });
    else if (name === bundle) resources.push({ name, kind: "trust-bundle" });
    else {
      const shown = name.length > 200 ? `${name.slice(0, 200)}…` : name;
      return { ok: false, code: "permission-denied", message: `${caller.spiffeId} may fetch only ${caller.spiffeId} and ${bundle}, not '${shown}'` };
    }
  }
  return { ok: true, spiffeId: caller.spiffeId, resources };
}

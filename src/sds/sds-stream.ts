/**
 * State-of-the-world xDS on one SDS stream, as pure functions: what a DiscoveryRequest means given what was sent,
 * and when a response must be sent. The gRPC adapter (sds-server.ts) keeps one StreamState per stream.
 *
 * - The first request (no response_nonce) subscribes to resource names; the server answers with every named
 *   resource, a version_info and a fresh nonce.
 * - A request whose response_nonce is the last nonce sent is an ACK (no error_detail: version_info is now the
 *   client's version) or a NACK (error_detail set: the client keeps its previous version). Either may change the
 *   resource names, which re-subscribes.
 * - A request naming an older nonce is stale (the client had not yet seen the latest response) and is ignored.
 * - A new version of a subscribed resource is pushed unless the client already has that version sent to it.
 */
import { createHash } from "node:crypto";
import { SECRET_TYPE_URL, type DiscoveryRequest } from "./sds-protos.js";

export interface StreamState {
  /** Names the client subscribed to (sorted); empty before the first request. */
  names: string[];
  /** The last response sent, or null. */
  sent: { nonce: string; version: string } | null;
  /** The version the client last ACKed, or null. */
  acked: string | null;
  /** How many NACKs this stream has seen. */
  nacks: number;
}

export const newStreamState = (): StreamState => ({ names: [], sent: null, acked: null, nacks: 0 });

export type RequestMeaning =
  | { kind: "subscribe"; names: string[]; ack: string | null }
  | { kind: "ack"; version: string }
  | { kind: "nack"; version: string | null; message: string; names: string[] | null }
  | { kind: "stale"; nonce: string }
  | { kind: "refuse"; message: string };

const sameNames = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** What one DiscoveryRequest means on a stream in state `s`. Pure. */
export function readRequest(s: StreamState, req: DiscoveryRequest): RequestMeaning {
  if (req.type_url !== "" && req.type_url !== SECRET_TYPE_URL) return { kind: "refuse", message: `type_url must be ${SECRET_TYPE_URL}, not '${req.type_url.slice(0, 200)}'` };
  const names = [...new Set(req.resource_names)].sort();
  if (req.response_nonce === "" || s.sent === null) return { kind: "subscribe", names, ack: null };
  if (req.response_nonce !== s.sent.nonce) return { kind: "stale", nonce: req.response_nonce.slice(0, 64) };
  const changed = !sameNames(names, s.names);
  if (req.error_detail && (req.error_detail.message || req.error_detail.code)) {
    const message = String(req.error_detail.message ?? `code ${req.error_detail.code}`).slice(0, 500);
    return { kind: "nack", version: req.version_info || null, message, names: changed ? names : null };
  }
  if (changed) return { kind: "subscribe", names, ack: s.sent.version };
  return { kind: "ack", version: s.sent.version };
}

/** The state after a response with `version` was sent under `nonce` for `names`. Pure. */
export function afterSend(s: StreamState, p: { nonce: string; version: string; names: string[] }): StreamState {
  return { ...s, names: p.names, sent: { nonce: p.nonce, version: p.version } };
}

/** The state after a request was read. Pure. */
export function afterRequest(s: StreamState, m: RequestMeaning): StreamState {
  if (m.kind === "ack") return { ...s, acked: m.version };
  if (m.kind === "subscribe" && m.ack !== null) return { ...s, acked: m.ack };
  if (m.kind === "nack") return { ...s, nacks: s.nacks + 1 };
  return s;
}

/** Must the current resources (with version `version`) be sent to this stream? Only when it has not had them. Pure. */
export function needsPush(s: StreamState, version: string): boolean {
  return s.names.length > 0 && s.sent !== null && s.sent.version !== version;
}

/** The version_info of a set of resources: a short hash of each resource's own version, in name order. Pure. */
export function versionOf(resources: readonly { name: string; version: string }[]): string {
  const h = createHash("sha256");
  for (const r of [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(`${r.name}\n${r.version}\n`);
  return h.digest("hex").slice(0, 16);
}

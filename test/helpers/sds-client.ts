/**
 * An SDS client built from Envoy's protos that behaves like Envoy: it opens StreamSecrets over mTLS, subscribes to
 * resource names, checks every response (a `judge` may reject it: NACK with error_detail, keeping the previous
 * secrets), ACKs the ones it accepts, and reconnects after the stream ends.
 *
 * Reconnecting is Envoy's (source/common/config/grpc_stream.h): a jittered exponential backoff starting at 500 ms and
 * capped at 30 s (the next delay is uniform in [0, base * 2^attempt)), reset once a response arrives; the new stream
 * goes to the next endpoint of the SDS cluster (ROUND_ROBIN over the STRICT_DNS hosts), and its first request carries
 * the version last accepted (no nonce), so the server answers with everything it has.
 */
import * as grpc from "@grpc/grpc-js";
import { loadSdsProtos, SECRET_TYPE_URL, type DiscoveryRequest, type DiscoveryResponse, type SecretResource } from "../../src/sds/sds-protos.js";

const protos = loadSdsProtos();
const Client = grpc.makeGenericClientConstructor(protos.service, "SecretDiscoveryService");

export interface SdsClientTls {
  /** PEM trust bundle to verify the SDS server. */
  ca: string;
  /** Client certificate chain and key, PEM; both absent = no client certificate. */
  cert?: string;
  key?: string;
}

export interface Accepted {
  version: string;
  nonce: string;
  resources: SecretResource[];
  at: number;
  /** The endpoint whose stream delivered it. */
  from: string;
}

export interface SdsStreamClient {
  /** Every response accepted (ACKed), in order. */
  accepted: Accepted[];
  /** Nonces NACKed. */
  nacked: string[];
  /** Stream errors seen (code + details), in order. */
  errors: { code: number; details: string }[];
  /** How many times the stream was opened. */
  opens: number;
  /** The endpoint of each stream opened, in order. */
  endpoints: string[];
  close(): void;
}

/**
 * `keepalive`: HTTP/2 pings as the generated bootstrap's SDS cluster sends them (`connection_keepalive` interval 30 s,
 * timeout 10 s), so that a stream to a CA whose node vanished (no FIN, no RST) ends as it does in Envoy.
 */
export function sdsClient(address: string, tls: SdsClientTls, o: { keepalive?: boolean } = {}): grpc.Client {
  const creds = grpc.credentials.createSsl(Buffer.from(tls.ca), tls.key ? Buffer.from(tls.key) : null, tls.cert ? Buffer.from(tls.cert) : null);
  const keepalive = o.keepalive ? { "grpc.keepalive_time_ms": 30_000, "grpc.keepalive_timeout_ms": 10_000 } : {};
  return new Client(address, creds, { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost", ...keepalive });
}

/** One FetchSecrets call; rejects with the gRPC error. */
export function fetchSecrets(address: string, tls: SdsClientTls, names: string[]): Promise<DiscoveryResponse> {
  const c = sdsClient(address, tls);
  return new Promise<DiscoveryResponse>((resolve, reject) => {
    (c as unknown as { FetchSecrets(r: Partial<DiscoveryRequest>, cb: (e: grpc.ServiceError | null, r?: DiscoveryResponse) => void): void }).FetchSecrets(
      { resource_names: names, type_url: SECRET_TYPE_URL },
      (e, r) => (e ? reject(e) : resolve(r as DiscoveryResponse)),
    );
  }).finally(() => c.close());
}

/** Envoy's JitteredExponentialBackOffStrategy: the delay before reconnect attempt `attempt` (0-based), ms. */
export function envoyBackoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(baseMs * 2 ** Math.min(attempt, 30), maxMs);
  return Math.floor(random() * ceiling);
}

/**
 * Opens StreamSecrets for `names` and keeps it open; with `reconnect`, a stream that ends is opened again after
 * Envoy's backoff (base `reconnectMs`, default 500 ms, at most `maxReconnectMs`, default 30 s) to the next of
 * `address` (one endpoint or the cluster's list). `judge` returns an error message to NACK a response, or null to ACK.
 */
export function streamSecrets(
  address: string | string[],
  tls: SdsClientTls | (() => SdsClientTls),
  names: string[],
  o: { judge?: (r: DiscoveryResponse) => string | null; reconnect?: boolean; reconnectMs?: number; maxReconnectMs?: number; keepalive?: boolean } = {},
): SdsStreamClient {
  const out: SdsStreamClient = { accepted: [], nacked: [], errors: [], opens: 0, endpoints: [], close: () => undefined };
  const endpoints = typeof address === "string" ? [address] : address;
  let stopped = false;
  let client: grpc.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let attempt = 0;
  /** The version last accepted, on any stream: sent in a new stream's first request, as Envoy does. */
  let version = "";
  const open = (): void => {
    if (stopped) return;
    const endpoint = endpoints[out.opens % endpoints.length] as string;
    out.opens++;
    out.endpoints.push(endpoint);
    client = sdsClient(endpoint, typeof tls === "function" ? tls() : tls, { keepalive: o.keepalive === true });
    const call = (client as unknown as { StreamSecrets(): grpc.ClientDuplexStream<Partial<DiscoveryRequest>, DiscoveryResponse> }).StreamSecrets();
    call.on("data", (r: DiscoveryResponse) => {
      attempt = 0;
      const why = o.judge?.(r) ?? null;
      if (why !== null) {
        out.nacked.push(r.nonce);
        call.write({ version_info: version, resource_names: names, type_url: SECRET_TYPE_URL, response_nonce: r.nonce, error_detail: { code: 3, message: why } });
        return;
      }
      version = r.version_info;
      out.accepted.push({ version: r.version_info, nonce: r.nonce, resources: r.resources, at: Date.now(), from: endpoint });
      call.write({ version_info: r.version_info, resource_names: names, type_url: SECRET_TYPE_URL, response_nonce: r.nonce });
    });
    const again = (): void => {
      client?.close();
      if (!stopped && o.reconnect) timer = setTimeout(open, envoyBackoffMs(attempt++, o.reconnectMs ?? 500, o.maxReconnectMs ?? 30_000));
    };
    call.on("error", (e: grpc.ServiceError) => {
      out.errors.push({ code: e.code, details: e.details });
      again();
    });
    call.on("end", () => undefined);
    call.write({ node: { id: "test-client", cluster: "test" }, version_info: version, resource_names: names, type_url: SECRET_TYPE_URL });
    out.close = () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      call.cancel();
      client?.close();
    };
  };
  open();
  return out;
}

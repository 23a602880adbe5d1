/**
 * Everything the generator needs to write one identity's Envoy bootstrap. Built from service labels by
 * `parseEnvoyLabels`; every field has a default that works on Swarm.
 */

/** One service this sidecar calls: a local plaintext listener that originates mTLS to the service's tasks. */
export interface EnvoyUpstream {
  /** Service name as written in `mtls.envoy.upstreams` (e.g. `payments`). */
  name: string;
  /** The upstream sidecar's inbound mTLS port (its `mtls.envoy.listen`, default 8443 there). */
  port: number;
  /** Port of the plaintext listener on 127.0.0.1 the app connects to; default: same as `port`. */
  localPort: number;
  /** The exact SPIFFE ID the upstream's certificate must carry (pinned). */
  spiffeId: string;
  /** DNS name resolved (STRICT_DNS) to the real task endpoints; `tasks.<name>`. */
  address: string;
}

export interface EnvoySidecarSettings {
  /** Identity name this sidecar serves (no default: from the rotation plan). */
  identity: string;
  /** SPIFFE trust domain of the CA (no default). */
  trustDomain: string;
  /** This identity's SPIFFE ID, `spiffe://<trust-domain>/swarm/<stack>/<service>` (no default). */
  spiffeId: string;
  /** `tcp`: tcp_proxy to the app; `http`: http_connection_manager + router, caller identity in XFCC. Default `tcp`. */
  mode: "tcp" | "http";
  /** Inbound mTLS port on 0.0.0.0; default 8443. */
  listenPort: number;
  /** Where inbound traffic goes: `127.0.0.1:PORT` (same container) or `<app-service>:PORT` (proxy service); default 127.0.0.1:8080. */
  app: { host: string; port: number };
  /** SPIFFE IDs allowed to call this identity; `[]` (default) = any identity of the trust domain. */
  allow: string[];
  /** Services this sidecar calls; default none. */
  upstreams: EnvoyUpstream[];
  /** Lowest TLS version on both ends; default `1.2` (maximum is always 1.3, set explicitly on both ends). */
  tlsMinimum: "1.2" | "1.3";
  /** Mounted certificate files; default `/run/secrets/tls.crt`, `/run/secrets/tls.key`, `/run/secrets/ca.crt`. */
  files: { cert: string; key: string; ca: string };
  /** Admin interface port, bound to 127.0.0.1 only; default 9901. */
  adminPort: number;
  /** Readiness listener on 0.0.0.0 serving only `GET /ready`; default 9902. */
  readyPort: number;
  /** Global limit on downstream connections (overload manager); default 1024. */
  maxConnections: number;
  /** Upstream connect timeout in seconds; default 5. */
  connectTimeoutSeconds: number;
  /** Idle timeout of a connection (TCP) or stream (HTTP) in seconds; default 300. */
  idleTimeoutSeconds: number;
  /** Where the bootstrap is mounted in the container (Docker config target); default `/etc/envoy/envoy.yaml`. */
  target: string;
  /**
   * SDS mode (label `mtls.sds=true`): the working certificate and the trust bundle come over SDS from the CA; the
   * files above hold the bootstrap certificate, used only to authenticate to the CA. Absent: files only.
   */
  sds?: EnvoySdsSettings;
}

export interface EnvoySdsSettings {
  /** Host name of the CA's SDS listener, on a network the sidecar shares with the CA service. */
  address: string;
  port: number;
  /** The SPIFFE ID the CA's SDS certificate must carry (pinned). */
  serverSpiffeId: string;
  /** Seconds Envoy waits for the first SDS answer before starting its listeners without the secret. */
  initialFetchTimeoutSeconds: number;
}

/** Defaults for everything that is not identity-specific. */
export const ENVOY_DEFAULTS = {
  mode: "tcp",
  listenPort: 8443,
  app: { host: "127.0.0.1", port: 8080 },
  tlsMinimum: "1.2",
  files: { cert: "/run/secrets/tls.crt", key: "/run/secrets/tls.key", ca: "/run/secrets/ca.crt" },
  adminPort: 9901,
  readyPort: 9902,
  maxConnections: 1024,
  connectTimeoutSeconds: 5,
  idleTimeoutSeconds: 300,
  target: "/etc/envoy/envoy.yaml",
} as const satisfies Partial<EnvoySidecarSettings>;

/** The SPIFFE ID of the CA's SDS listener: a path no service identity can have (`/id/…`, `/swarm/…`). */
export const sdsServerSpiffeId = (trustDomain: string): string => `spiffe://${trustDomain}/swarm-mtls/sds`;

/**
 * One identity's Envoy v3 bootstrap, as a plain JSON-compatible object and as YAML text. Pure.
 *
 * - inbound: `0.0.0.0:<listenPort>` terminates mTLS (client certificate required, peer URI SAN within the
 *   trust domain, RBAC on the peer's SPIFFE ID) and forwards to the app, as TCP or HTTP;
 * - outbound: per upstream, `127.0.0.1:<localPort>` originates mTLS to `tasks.<service>` (STRICT_DNS,
 *   health-checked) and pins the upstream's exact SPIFFE ID;
 * - admin on 127.0.0.1 only, a readiness listener serving only `GET /ready`, access logs to stdout, a
 *   global connection limit, explicit timeouts.
 */
import { stringify } from "yaml";
import type { EnvoySidecarSettings, EnvoyUpstream } from "./envoy-sidecar-settings.js";

type Obj = Record<string, unknown>;

const T = {
  tcpProxy: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  networkRbac: "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
  httpRbac: "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  downstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  upstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  stdoutLog: "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
  httpOptions: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  connections: "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
} as const;

const ALPN = ["h2", "http/1.1"];
const APP_CLUSTER = "app";
/** The cluster of the CA's SDS listener (SDS mode). */
export const SDS_CLUSTER = "swarm_mtls_sds";
const ADMIN_CLUSTER = "admin";
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

const seconds = (n: number) => `${n}s`;
const upstreamCluster = (u: EnvoyUpstream) => `upstream_${u.name}`;
const socketAddress = (address: string, port: number) => ({ socket_address: { address, port_value: port } });

/** Access log line: JSON on stdout, with the peer's SPIFFE ID. */
function accessLog(kind: "tcp" | "http"): Obj[] {
  const format: Obj = {
    start_time: "%START_TIME%",
    peer: "%DOWNSTREAM_PEER_URI_SAN%",
    downstream: "%DOWNSTREAM_REMOTE_ADDRESS%",
    upstream: "%UPSTREAM_HOST%",
    upstream_cluster: "%UPSTREAM_CLUSTER%",
    duration_ms: "%DURATION%",
    bytes_received: "%BYTES_RECEIVED%",
    bytes_sent: "%BYTES_SENT%",
    flags: "%RESPONSE_FLAGS%",
  };
  if (kind === "http") {
    Object.assign(format, { method: "%REQ(:METHOD)%", path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", status: "%RESPONSE_CODE%", request_id: "%REQ(X-REQUEST-ID)%" });
  }
  return [
    {
      name: "envoy.access_loggers.stdout",
      typed_config: { "@type": T.stdoutLog, log_format: { json_format: format } },
    },
  ];
}

function tlsParams(s: EnvoySidecarSettings): Obj {
  // Both ends set explicitly: a client-side minimum of 1.3 with the default maximum (1.2) fails every handshake.
  return {
    tls_minimum_protocol_version: s.tlsMinimum === "1.3" ? "TLSv1_3" : "TLSv1_2",
    tls_maximum_protocol_version: "TLSv1_3",
  };
}

function tlsCertificates(s: EnvoySidecarSettings): Obj[] {
  return [{ certificate_chain: { filename: s.files.cert }, private_key: { filename: s.files.key } }];
}

/** Where SDS secrets come from: the CA's SDS cluster, over gRPC, state of the world. */
function sdsConfig(s: EnvoySidecarSettings): Obj {
  return {
    resource_api_version: "V3",
    initial_fetch_timeout: seconds(s.sds?.initialFetchTimeoutSeconds ?? 10),
    api_config_source: {
      api_type: "GRPC",
      transport_api_version: "V3",
      set_node_on_first_message_only: true,
      grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
    },
  };
}

/**
 * The certificate and peer validation of a TLS context: files, or (SDS mode) the working certificate by its SDS name
 * (the identity's SPIFFE ID) and a combined validation context whose bundle comes over SDS while the SAN pinning
 * stays here.
 */
function certificateAndValidation(s: EnvoySidecarSettings, sanMatchers: Obj[]): Obj {
  if (!s.sds) {
    return { tls_certificates: tlsCertificates(s), validation_context: { trusted_ca: { filename: s.files.ca }, match_typed_subject_alt_names: sanMatchers } };
  }
  return {
    tls_certificate_sds_secret_configs: [{ name: s.spiffeId, sds_config: sdsConfig(s) }],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: sanMatchers },
      validation_context_sds_secret_config: { name: `spiffe://${s.trustDomain}`, sds_config: sdsConfig(s) },
    },
  };
}

/** SDS mode: the CA's SDS listener, reached over mTLS with the bootstrap files, HTTP/2, the CA's identity pinned. */
function sdsCluster(s: EnvoySidecarSettings): Obj | null {
  if (!s.sds) return null;
  return {
    name: SDS_CLUSTER,
    type: "STRICT_DNS",
    connect_timeout: seconds(s.connectTimeoutSeconds),
    dns_lookup_family: "V4_ONLY",
    dns_refresh_rate: "5s",
    lb_policy: "ROUND_ROBIN",
    load_assignment: endpoint(SDS_CLUSTER, s.sds.address, s.sds.port),
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": T.httpOptions,
        explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: "30s", timeout: "10s" } } },
      },
    },
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": T.upstreamTls,
        common_tls_context: {
          tls_params: { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" },
          alpn_protocols: ["h2"],
          tls_certificates: tlsCertificates(s),
          validation_context: {
            trusted_ca: { filename: s.files.ca },
            match_typed_subject_alt_names: [{ san_type: "URI", matcher: { exact: s.sds.serverSpiffeId } }],
          },
        },
      },
    },
  };
}

/** RBAC policy: the listed SPIFFE IDs, or any identity of the trust domain. */
function rbacRules(s: EnvoySidecarSettings): Obj {
  const principals = s.allow.length > 0
    ? s.allow.map((id) => ({ authenticated: { principal_name: { exact: id } } }))
    : [{ authenticated: { principal_name: { prefix: `spiffe://${s.trustDomain}/` } } }];
  return {
    action: "ALLOW",
    policies: {
      "allowed-callers": { permissions: [{ any: true }], principals },
    },
  };
}

function inboundTransportSocket(s: EnvoySidecarSettings): Obj {
  const common: Obj = {
    tls_params: tlsParams(s),
    ...certificateAndValidation(s, [{ san_type: "URI", matcher: { prefix: `spiffe://${s.trustDomain}/` } }]),
  };
  if (s.mode === "http") common["alpn_protocols"] = ALPN;
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: { "@type": T.downstreamTls, require_client_certificate: true, common_tls_context: common },
  };
}

function httpConnectionManager(p: { statPrefix: string; routeName: string; cluster: string; s: EnvoySidecarSettings; inbound: boolean }): Obj {
  const filters: Obj[] = [];
  if (p.inbound) {
    filters.push({ name: "envoy.filters.http.rbac", typed_config: { "@type": T.httpRbac, rules: rbacRules(p.s) } });
  }
  filters.push({ name: "envoy.filters.http.router", typed_config: { "@type": T.router } });
  const hcm: Obj = {
    "@type": T.hcm,
    stat_prefix: p.statPrefix,
    codec_type: "AUTO",
    normalize_path: true,
    merge_slashes: true,
    common_http_protocol_options: { idle_timeout: seconds(p.s.idleTimeoutSeconds), headers_with_underscores_action: "REJECT_REQUEST" },
    stream_idle_timeout: seconds(p.s.idleTimeoutSeconds),
    request_headers_timeout: "10s",
    route_config: {
      name: p.routeName,
      virtual_hosts: [
        {
          name: p.routeName,
          domains: ["*"],
          routes: [{ match: { prefix: "/" }, route: { cluster: p.cluster, timeout: "0s" } }],
        },
      ],
    },
    http_filters: filters,
    access_log: accessLog("http"),
  };
  if (p.inbound) {
    // The caller's identity reaches the app as x-forwarded-client-cert: URI=<caller SPIFFE ID>.
    hcm["forward_client_cert_details"] = "SANITIZE_SET";
    hcm["set_current_client_cert_details"] = { uri: true };
  }
  return hcm;
}

function inboundListener(s: EnvoySidecarSettings): Obj {
  const filters: Obj[] = s.mode === "http"
    ? [{ name: "envoy.filters.network.http_connection_manager", typed_config: httpConnectionManager({ statPrefix: "inbound_http", routeName: "inbound", cluster: APP_CLUSTER, s, inbound: true }) }]
    : [
        { name: "envoy.filters.network.rbac", typed_config: { "@type": T.networkRbac, stat_prefix: "inbound_rbac", rules: rbacRules(s) } },
        {
          name: "envoy.filters.network.tcp_proxy",
          typed_config: { "@type": T.tcpProxy, stat_prefix: "inbound_tcp", cluster: APP_CLUSTER, idle_timeout: seconds(s.idleTimeoutSeconds), access_log: accessLog("tcp") },
        },
      ];
  return {
    name: "inbound",
    address: socketAddress("0.0.0.0", s.listenPort),
    per_connection_buffer_limit_bytes: 32768,
    filter_chains: [{ filters, transport_socket: inboundTransportSocket(s) }],
  };
}

function outboundListener(s: EnvoySidecarSettings, u: EnvoyUpstream): Obj {
  const cluster = upstreamCluster(u);
  const filters: Obj[] = s.mode === "http"
    ? [{ name: "envoy.filters.network.http_connection_manager", typed_config: httpConnectionManager({ statPrefix: `outbound_${u.name}`, routeName: `outbound_${u.name}`, cluster, s, inbound: false }) }]
    : [{
        name: "envoy.filters.network.tcp_proxy",
        typed_config: { "@type": T.tcpProxy, stat_prefix: `outbound_${u.name}`, cluster, idle_timeout: seconds(s.idleTimeoutSeconds), access_log: accessLog("tcp") },
      }];
  return {
    name: `outbound_${u.name}`,
    address: socketAddress("127.0.0.1", u.localPort),
    per_connection_buffer_limit_bytes: 32768,
    filter_chains: [{ filters }],
  };
}

function readyListener(s: EnvoySidecarSettings): Obj {
  return {
    name: "ready",
    address: socketAddress("0.0.0.0", s.readyPort),
    // Health checks must still get through when the connection limit is reached.
    ignore_global_conn_limit: true,
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": T.hcm,
              stat_prefix: "ready",
              codec_type: "AUTO",
              stream_idle_timeout: "10s",
              request_headers_timeout: "5s",
              route_config: {
                name: "ready",
                virtual_hosts: [
                  {
                    name: "ready",
                    domains: ["*"],
                    routes: [
                      {
                        match: { path: "/ready", headers: [{ name: ":method", string_match: { exact: "GET" } }] },
                        route: { cluster: ADMIN_CLUSTER, timeout: "2s" },
                      },
                      { match: { prefix: "/" }, direct_response: { status: 404 } },
                    ],
                  },
                ],
              },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": T.router } }],
            },
          },
        ],
      },
    ],
  };
}

function endpoint(cluster: string, host: string, port: number): Obj {
  return { cluster_name: cluster, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }] };
}

function appCluster(s: EnvoySidecarSettings): Obj {
  const cluster: Obj = {
    name: APP_CLUSTER,
    type: IPV4.test(s.app.host) ? "STATIC" : "STRICT_DNS",
    connect_timeout: seconds(s.connectTimeoutSeconds),
    lb_policy: "ROUND_ROBIN",
  };
  if (cluster["type"] === "STRICT_DNS") {
    cluster["dns_lookup_family"] = "V4_ONLY";
    cluster["dns_refresh_rate"] = "5s";
  }
  cluster["load_assignment"] = endpoint(APP_CLUSTER, s.app.host, s.app.port);
  return cluster;
}

function upstreamClusterConfig(s: EnvoySidecarSettings, u: EnvoyUpstream): Obj {
  const name = upstreamCluster(u);
  const common: Obj = {
    tls_params: tlsParams(s),
    ...certificateAndValidation(s, [{ san_type: "URI", matcher: { exact: u.spiffeId } }]),
  };
  if (s.mode === "http") common["alpn_protocols"] = ALPN;
  const cluster: Obj = {
    name,
    type: "STRICT_DNS",
    connect_timeout: seconds(s.connectTimeoutSeconds),
    dns_lookup_family: "V4_ONLY",
    dns_refresh_rate: "5s",
    lb_policy: "ROUND_ROBIN",
    load_assignment: endpoint(name, u.address, u.port),
    health_checks: [
      {
        timeout: "2s",
        interval: "5s",
        unhealthy_threshold: 2,
        healthy_threshold: 1,
        tcp_health_check: {},
      },
    ],
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: { "@type": T.upstreamTls, sni: u.name, common_tls_context: common },
    },
  };
  if (s.mode === "http") {
    // HTTP/2 when the peer's ALPN offers it, HTTP/1.1 otherwise.
    cluster["typed_extension_protocol_options"] = {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": T.httpOptions,
        common_http_protocol_options: { idle_timeout: seconds(s.idleTimeoutSeconds) },
        auto_config: { http_protocol_options: {}, http2_protocol_options: {} },
      },
    };
  }
  return cluster;
}

/** The bootstrap as a plain object (JSON-compatible; keys in a stable order). */
export function renderEnvoyBootstrap(s: EnvoySidecarSettings): Obj {
  return {
    node: { id: s.identity, cluster: s.identity },
    admin: { address: socketAddress("127.0.0.1", s.adminPort) },
    static_resources: {
      listeners: [inboundListener(s), ...s.upstreams.map((u) => outboundListener(s, u)), readyListener(s)],
      clusters: [
        appCluster(s),
        ...s.upstreams.map((u) => upstreamClusterConfig(s, u)),
        ...(s.sds ? [sdsCluster(s) as Obj] : []),
        {
          name: ADMIN_CLUSTER,
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: endpoint(ADMIN_CLUSTER, "127.0.0.1", s.adminPort),
        },
      ],
    },
    overload_manager: {
      resource_monitors: [
        {
          name: "envoy.resource_monitors.global_downstream_max_connections",
          typed_config: { "@type": T.connections, max_active_downstream_connections: s.maxConnections },
        },
      ],
    },
  };
}

/**
 * The bootstrap as YAML that is also unambiguous JSON-wise: every string value double-quoted (so `yes`,
 * `on`, `1s`, `0644` stay strings under YAML 1.1 too), no line folding, stable key order, and a header
 * saying it is generated.
 */
export function renderEnvoyBootstrapYaml(s: EnvoySidecarSettings): string {
  const printable = (t: string) => t.replace(/[^\x20-\x7e]/g, "?");
  const header = [
    `# Envoy bootstrap for identity "${printable(s.identity)}" (${printable(s.spiffeId)}).`,
    "# Generated by swarm-mtls; do not edit: it is rewritten with every certificate rotation.",
    "",
  ].join("\n");
  const body = stringify(renderEnvoyBootstrap(s), {
    version: "1.1",
    defaultStringType: "QUOTE_DOUBLE",
    defaultKeyType: "PLAIN",
    lineWidth: 0,
    minContentWidth: 0,
    aliasDuplicateObjects: false,
  });
  return header + body;
}

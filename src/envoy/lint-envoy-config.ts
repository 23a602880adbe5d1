/**
 * Checks for what Envoy's schema cannot say, run over the messages the schema walk visited (so every
 * `typed_config` has already been resolved to its type). Things Envoy rejects at load time or that break
 * at runtime are errors; weak security posture (admin reachable from the network, mTLS without SAN
 * pinning) is a warning.
 */
import { isIP } from "node:net";
import { closestMatch } from "../closest-match.js";
import type { EnvoyFinding, VisitedMessage } from "./envoy-schema-walk.js";
import { jsonNameOf } from "./envoy-schema-walk.js";

const T = {
  cluster: "envoy.config.cluster.v3.Cluster",
  listener: "envoy.config.listener.v3.Listener",
  filterChain: "envoy.config.listener.v3.FilterChain",
  tcpProxy: "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  tcpWeighted: "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight",
  routeAction: "envoy.config.route.v3.RouteAction",
  routeWeighted: "envoy.config.route.v3.WeightedCluster.ClusterWeight",
  mirror: "envoy.config.route.v3.RouteAction.RequestMirrorPolicy",
  envoyGrpc: "envoy.config.core.v3.GrpcService.EnvoyGrpc",
  httpUri: "envoy.config.core.v3.HttpUri",
  apiConfigSource: "envoy.config.core.v3.ApiConfigSource",
  hcm: "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  downstreamTls: "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  upstreamTls: "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  router: "envoy.extensions.filters.http.router.v3.Router",
} as const;

/** Network filters after which no other filter may follow (Envoy: "terminal filter"). */
const TERMINAL_NETWORK_FILTERS = new Set([
  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "envoy.extensions.filters.network.direct_response.v3.Config",
  "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy",
  "envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy",
  "envoy.extensions.filters.network.thrift_proxy.v3.ThriftProxy",
  "envoy.extensions.filters.network.echo.v3.Echo",
  "envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig",
]);
const NON_TERMINAL_EXCEPTIONS = new Set(["envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig"]);

const TLS_ORDER = ["TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"];

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A field by its proto name or its lowerCamel JSON name. */
function get(o: unknown, name: string): unknown {
  if (!isObject(o)) return undefined;
  return o[name] ?? o[jsonNameOf(name)];
}
function keyOf(o: unknown, name: string): string {
  return isObject(o) && o[name] === undefined && o[jsonNameOf(name)] !== undefined ? jsonNameOf(name) : name;
}
const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function typeOfAny(v: unknown): string | undefined {
  const url = str(get(v, "@type"));
  if (!url) return undefined;
  const name = url.slice(url.lastIndexOf("/") + 1);
  if (name === "xds.type.v3.TypedStruct" || name === "udpa.type.v1.TypedStruct") {
    const inner = str(get(v, "type_url"));
    return inner?.slice(inner.lastIndexOf("/") + 1);
  }
  return name;
}

function isLoopback(address: string): boolean {
  return address === "localhost" || address === "::1" || (isIP(address) === 4 && address.startsWith("127."));
}

export interface EnvoyLintResult {
  errors: EnvoyFinding[];
  warnings: EnvoyFinding[];
}

export function lintEnvoyConfig(config: unknown, visited: readonly VisitedMessage[]): EnvoyLintResult {
  const errors: EnvoyFinding[] = [];
  const warnings: EnvoyFinding[] = [];
  const error = (path: string, message: string) => errors.push({ path, message });
  const warn = (path: string, message: string) => warnings.push({ path, message });
  const of = (type: string) => visited.filter((m) => m.type === type);
  // Only extension configs the schema walk resolved are linted (an unknown @type is already an error).
  const resolved = new Set<unknown>(visited.map((m) => m.value));
  const knownTypeOf = (typedConfig: unknown) => (resolved.has(typedConfig) ? typeOfAny(typedConfig) : undefined);

  // --- clusters: defined once, every reference resolves -----------------------------------------
  const defined = new Map<string, string>();
  for (const c of of(T.cluster)) {
    const name = str(get(c.value, "name"));
    if (name === undefined || !/^(static_resources|staticResources)\.clusters\[/.test(c.path)) continue;
    if (defined.has(name)) error(`${c.path}.name`, `cluster "${name}" is defined twice (also at ${defined.get(name)})`);
    else defined.set(name, c.path);
  }
  const dynamicClusters = get(get(config, "dynamic_resources"), "cds_config") !== undefined;
  const refs: Array<{ path: string; name: string }> = [];
  const ref = (m: VisitedMessage, field: string) => {
    const v = get(m.value, field);
    if (typeof v === "string") refs.push({ path: `${m.path}.${keyOf(m.value, field)}`, name: v });
    else arr(v).forEach((x, i) => typeof x === "string" && refs.push({ path: `${m.path}.${keyOf(m.value, field)}[${i}]`, name: x }));
  };
  for (const m of of(T.tcpProxy)) ref(m, "cluster");
  for (const m of of(T.tcpWeighted)) ref(m, "name");
  for (const m of of(T.routeAction)) ref(m, "cluster");
  for (const m of of(T.routeWeighted)) ref(m, "name");
  for (const m of of(T.mirror)) ref(m, "cluster");
  for (const m of of(T.envoyGrpc)) ref(m, "cluster_name");
  for (const m of of(T.httpUri)) ref(m, "cluster");
  for (const m of of(T.apiConfigSource)) ref(m, "cluster_names");
  if (!dynamicClusters) {
    for (const r of refs) {
      if (defined.has(r.name)) continue;
      const hint = closestMatch(r.name, defined.keys());
      error(r.path, `cluster "${r.name}" is not defined in static_resources.clusters${hint ? `; did you mean "${hint}"?` : ""}`);
    }
  }

  // --- addresses: listeners and admin bind IP literals; admin stays on loopback -----------------
  const admin = get(config, "admin");
  const adminSocket = get(get(admin, "address"), "socket_address");
  const adminAddress = str(get(adminSocket, "address"));
  if (adminAddress !== undefined) {
    const path = "admin.address.socket_address.address";
    if (isIP(adminAddress) === 0) error(path, `"${adminAddress}" is not an IP address (Envoy binds IP literals only)`);
    else if (!isLoopback(adminAddress)) warn(path, `admin listens on ${adminAddress}: anyone who reaches it can reconfigure or stop Envoy; bind it to 127.0.0.1`);
  }
  const bound = new Map<string, string>();
  for (const l of of(T.listener)) {
    const sock = get(get(l.value, "address"), "socket_address");
    const address = str(get(sock, "address"));
    if (address === undefined) continue;
    const path = `${l.path}.address.socket_address`;
    if (isIP(address) === 0) error(`${path}.address`, `"${address}" is not an IP address (listeners bind IP literals only)`);
    const port = get(sock, "port_value");
    const protocol = str(get(sock, "protocol")) ?? "TCP";
    const key = `${protocol}/${address}:${String(port)}`;
    if (port !== undefined && Number(port) !== 0) {
      if (bound.has(key)) error(path, `${address}:${String(port)} is already bound by ${bound.get(key)}`);
      else bound.set(key, l.path);
      if (adminAddress !== undefined && Number(get(adminSocket, "port_value")) === Number(port) && (address === adminAddress || address === "0.0.0.0")) {
        error(path, `port ${String(port)} is also the admin port`);
      }
    }
  }
  for (const c of of(T.cluster)) {
    const type = str(get(c.value, "type")) ?? "STATIC";
    if (type !== "STATIC") continue;
    const endpoints = arr(get(get(c.value, "load_assignment"), "endpoints"));
    endpoints.forEach((e, i) =>
      arr(get(e, "lb_endpoints")).forEach((lb, j) => {
        const a = str(get(get(get(get(lb, "endpoint"), "address"), "socket_address"), "address"));
        if (a !== undefined && isIP(a) === 0) {
          error(`${c.path}.load_assignment.endpoints[${i}].lb_endpoints[${j}]`, `"${a}" is not an IP address: a STATIC cluster cannot resolve names (use STRICT_DNS)`);
        }
      }),
    );
  }

  // --- network filter chains end in exactly one terminal filter ---------------------------------
  const chains = [...of(T.filterChain)];
  for (const chain of chains) {
    const filtersKey = keyOf(chain.value, "filters");
    const filters = arr(get(chain.value, "filters"));
    filters.forEach((f, i) => {
      const type = knownTypeOf(get(f, "typed_config"));
      if (type === undefined) return;
      const terminal = TERMINAL_NETWORK_FILTERS.has(type) && !NON_TERMINAL_EXCEPTIONS.has(type);
      const last = i === filters.length - 1;
      if (terminal && !last) error(`${chain.path}.${filtersKey}[${i}]`, `${type} is a terminal filter and must be the last in the chain`);
      if (!terminal && last) error(`${chain.path}.${filtersKey}[${i}]`, `the last network filter must be terminal (tcp_proxy, http_connection_manager, ...), not ${type}`);
    });
  }

  // --- HTTP filter chains end with the router ---------------------------------------------------
  for (const hcm of of(T.hcm)) {
    const key = keyOf(hcm.value, "http_filters");
    const filters = arr(get(hcm.value, "http_filters"));
    if (filters.length === 0) {
      error(`${hcm.path}.${key}`, `no HTTP filters: the last one must be the router (${T.router})`);
      continue;
    }
    filters.forEach((f, i) => {
      const type = knownTypeOf(get(f, "typed_config"));
      if (type === undefined) return;
      const last = i === filters.length - 1;
      if (type === T.router && !last) error(`${hcm.path}.${key}[${i}]`, "the router must be the last HTTP filter");
      if (type !== T.router && last) error(`${hcm.path}.${key}[${i}]`, `the last HTTP filter must be the router, not ${type}`);
    });
  }

  // --- TLS: versions consistent, mTLS requires and pins client certificates ----------------------
  const tlsContexts = [...of(T.downstreamTls), ...of(T.upstreamTls)];
  for (const ctx of tlsContexts) {
    const downstream = ctx.type === T.downstreamTls;
    const common = get(ctx.value, "common_tls_context");
    const params = get(common, "tls_params");
    const min = str(get(params, "tls_minimum_protocol_version")) ?? "TLS_AUTO";
    const max = str(get(params, "tls_maximum_protocol_version")) ?? "TLS_AUTO";
    const effMin = min === "TLS_AUTO" ? "TLSv1_2" : min;
    const effMax = max === "TLS_AUTO" ? (downstream ? "TLSv1_3" : "TLSv1_2") : max;
    if (TLS_ORDER.indexOf(effMin) > TLS_ORDER.indexOf(effMax)) {
      const why = max === "TLS_AUTO" && !downstream ? " (the client-side default maximum is TLSv1_2: set tls_maximum_protocol_version too)" : "";
      error(`${ctx.path}.common_tls_context.tls_params`, `minimum TLS version ${effMin} is above the maximum ${effMax}${why}; every handshake would fail`);
    }
    const validation = get(common, "validation_context") ?? get(get(common, "combined_validation_context"), "default_validation_context");
    const hasValidation = validation !== undefined || get(common, "validation_context_sds_secret_config") !== undefined
      || get(common, "combined_validation_context") !== undefined;
    const sanMatchers = arr(get(validation, "match_typed_subject_alt_names"));
    const customValidator = get(validation, "custom_validator_config") !== undefined;
    if (downstream) {
      const requireClient = get(ctx.value, "require_client_certificate") === true;
      if (hasValidation && !requireClient) {
        warn(ctx.path, "the listener verifies client certificates only when offered; set require_client_certificate: true for mTLS");
      }
      if (requireClient && !hasValidation) error(ctx.path, "require_client_certificate needs a validation_context with trusted_ca to verify the client");
      if (requireClient && validation !== undefined && sanMatchers.length === 0 && !customValidator) {
        warn(`${ctx.path}.common_tls_context.validation_context`, "accepts any certificate signed by the CA: pin the peers' SANs with match_typed_subject_alt_names");
      }
    } else {
      if (!hasValidation) warn(ctx.path, "does not verify the server certificate: add a validation_context with trusted_ca");
      else if (validation !== undefined && sanMatchers.length === 0 && !customValidator) {
        warn(`${ctx.path}.common_tls_context.validation_context`, "accepts any server certificate signed by the CA: pin the upstream's SAN with match_typed_subject_alt_names");
      }
    }
  }

  return { errors, warnings };
}

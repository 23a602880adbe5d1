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

/** What every check reads and where it reports: the visited messages by type, the config, error and warn. */
interface LintScope {
  config: unknown;
  of(type: string): VisitedMessage[];
  /** The type of an extension config the schema walk resolved; undefined for any other (already an error). */
  knownTypeOf(typedConfig: unknown): string | undefined;
  error(path: string, message: string): void;
  warn(path: string, message: string): void;
}

/** Clusters are defined once, and every reference to one resolves (unless clusters come from CDS). */
function lintClusterReferences(s: LintScope): void {
  const defined = new Map<string, string>();
  for (const c of s.of(T.cluster)) {
    const name = str(get(c.value, "name"));
    if (name === undefined || !/^(static_resources|staticResources)\.clusters\[/.test(c.path)) continue;
    if (defined.has(name)) s.error(`${c.path}.name`, `cluster "${name}" is defined twice (also at ${defined.get(name)})`);
    else defined.set(name, c.path);
  }
  if (get(get(s.config, "dynamic_resources"), "cds_config") !== undefined) return;
  const refs: Array<{ path: string; name: string }> = [];
  const ref = (m: VisitedMessage, field: string) => {
    const v = get(m.value, field);
    if (typeof v === "string") refs.push({ path: `${m.path}.${keyOf(m.value, field)}`, name: v });
    else arr(v).forEach((x, i) => typeof x === "string" && refs.push({ path: `${m.path}.${keyOf(m.value, field)}[${i}]`, name: x }));
  };
  for (const m of s.of(T.tcpProxy)) ref(m, "cluster");
  for (const m of s.of(T.tcpWeighted)) ref(m, "name");
  for (const m of s.of(T.routeAction)) ref(m, "cluster");
  for (const m of s.of(T.routeWeighted)) ref(m, "name");
  for (const m of s.of(T.mirror)) ref(m, "cluster");
  for (const m of s.of(T.envoyGrpc)) ref(m, "cluster_name");
  for (const m of s.of(T.httpUri)) ref(m, "cluster");
  for (const m of s.of(T.apiConfigSource)) ref(m, "cluster_names");
  for (const r of refs) {
    if (defined.has(r.name)) continue;
    const hint = closestMatch(r.name, defined.keys());
    s.error(r.path, `cluster "${r.name}" is not defined in static_resources.clusters${hint ? `; did you mean "${hint}"?` : ""}`);
  }
}

/** Listeners and admin bind IP literals, no address:port twice, admin stays on loopback and off listener ports. */
function lintAddresses(s: LintScope): void {
  const adminSocket = get(get(get(s.config, "admin"), "address"), "socket_address");
  const adminAddress = str(get(adminSocket, "address"));
  if (adminAddress !== undefined) {
    const path = "admin.address.socket_address.address";
    if (isIP(adminAddress) === 0) s.error(path, `"${adminAddress}" is not an IP address (Envoy binds IP literals only)`);
    else if (!isLoopback(adminAddress)) s.warn(path, `admin listens on ${adminAddress}: anyone who reaches it can reconfigure or stop Envoy; bind it to 127.0.0.1`);
  }
  const bound = new Map<string, string>();
  for (const l of s.of(T.listener)) {
    const sock = get(get(l.value, "address"), "socket_address");
    const address = str(get(sock, "address"));
    if (address === undefined) continue;
    const path = `${l.path}.address.socket_address`;
    if (isIP(address) === 0) s.error(`${path}.address`, `"${address}" is not an IP address (listeners bind IP literals only)`);
    const port = get(sock, "port_value");
    const protocol = str(get(sock, "protocol")) ?? "TCP";
    const key = `${protocol}/${address}:${String(port)}`;
    if (port === undefined || Number(port) === 0) continue;
    if (bound.has(key)) s.error(path, `${address}:${String(port)} is already bound by ${bound.get(key)}`);
    else bound.set(key, l.path);
    if (adminAddress !== undefined && Number(get(adminSocket, "port_value")) === Number(port) && (address === adminAddress || address === "0.0.0.0")) {
      s.error(path, `port ${String(port)} is also the admin port`);
    }
  }
}

/** A STATIC cluster's endpoints are IP literals: it cannot resolve names. */
function lintStaticEndpoints(s: LintScope): void {
  for (const c of s.of(T.cluster)) {
    const type = str(get(c.value, "type")) ?? "STATIC";
    if (type !== "STATIC") continue;
    const endpoints = arr(get(get(c.value, "load_assignment"), "endpoints"));
    endpoints.forEach((e, i) =>
      arr(get(e, "lb_endpoints")).forEach((lb, j) => {
        const a = str(get(get(get(get(lb, "endpoint"), "address"), "socket_address"), "address"));
        if (a !== undefined && isIP(a) === 0) {
          s.error(`${c.path}.load_assignment.endpoints[${i}].lb_endpoints[${j}]`, `"${a}" is not an IP address: a STATIC cluster cannot resolve names (use STRICT_DNS)`);
        }
      }),
    );
  }
}

/** Network filter chains end in exactly one terminal filter. */
function lintNetworkFilterChains(s: LintScope): void {
  for (const chain of s.of(T.filterChain)) {
    const filtersKey = keyOf(chain.value, "filters");
    const filters = arr(get(chain.value, "filters"));
    filters.forEach((f, i) => {
      const type = s.knownTypeOf(get(f, "typed_config"));
      if (type === undefined) return;
      const terminal = TERMINAL_NETWORK_FILTERS.has(type) && !NON_TERMINAL_EXCEPTIONS.has(type);
      const last = i === filters.length - 1;
      if (terminal && !last) s.error(`${chain.path}.${filtersKey}[${i}]`, `${type} is a terminal filter and must be the last in the chain`);
      if (!terminal && last) s.error(`${chain.path}.${filtersKey}[${i}]`, `the last network filter must be terminal (tcp_proxy, http_connection_manager, ...), not ${type}`);
    });
  }
}

/** HTTP filter chains end with the router. */
function lintHttpFilterChains(s: LintScope): void {
  for (const hcm of s.of(T.hcm)) {
    const key = keyOf(hcm.value, "http_filters");
    const filters = arr(get(hcm.value, "http_filters"));
    if (filters.length === 0) {
      s.error(`${hcm.path}.${key}`, `no HTTP filters: the last one must be the router (${T.router})`);
      continue;
    }
    filters.forEach((f, i) => {
      const type = s.knownTypeOf(get(f, "typed_config"));
      if (type === undefined) return;
      const last = i === filters.length - 1;
      if (type === T.router && !last) s.error(`${hcm.path}.${key}[${i}]`, "the router must be the last HTTP filter");
      if (type !== T.router && last) s.error(`${hcm.path}.${key}[${i}]`, `the last HTTP filter must be the router, not ${type}`);
    });
  }
}

/** TLS versions are consistent: the effective minimum is not above the effective maximum. */
function lintTlsVersions(s: LintScope, ctx: VisitedMessage, downstream: boolean): void {
  const params = get(get(ctx.value, "common_tls_context"), "tls_params");
  const min = str(get(params, "tls_minimum_protocol_version")) ?? "TLS_AUTO";
  const max = str(get(params, "tls_maximum_protocol_version")) ?? "TLS_AUTO";
  const effMin = min === "TLS_AUTO" ? "TLSv1_2" : min;
  const effMax = max === "TLS_AUTO" ? (downstream ? "TLSv1_3" : "TLSv1_2") : max;
  if (TLS_ORDER.indexOf(effMin) <= TLS_ORDER.indexOf(effMax)) return;
  const why = max === "TLS_AUTO" && !downstream ? " (the client-side default maximum is TLSv1_2: set tls_maximum_protocol_version too)" : "";
  s.error(`${ctx.path}.common_tls_context.tls_params`, `minimum TLS version ${effMin} is above the maximum ${effMax}${why}; every handshake would fail`);
}

/** mTLS requires client certificates and pins the peers' SANs; a client verifies the server and pins its SAN. */
function lintPeerVerification(s: LintScope, ctx: VisitedMessage, downstream: boolean): void {
  const common = get(ctx.value, "common_tls_context");
  const validation = get(common, "validation_context") ?? get(get(common, "combined_validation_context"), "default_validation_context");
  const hasValidation = validation !== undefined || get(common, "validation_context_sds_secret_config") !== undefined
    || get(common, "combined_validation_context") !== undefined;
  const unpinned = validation !== undefined && arr(get(validation, "match_typed_subject_alt_names")).length === 0 && get(validation, "custom_validator_config") === undefined;
  if (!downstream) {
    if (!hasValidation) s.warn(ctx.path, "does not verify the server certificate: add a validation_context with trusted_ca");
    else if (unpinned) s.warn(`${ctx.path}.common_tls_context.validation_context`, "accepts any server certificate signed by the CA: pin the upstream's SAN with match_typed_subject_alt_names");
    return;
  }
  const requireClient = get(ctx.value, "require_client_certificate") === true;
  if (hasValidation && !requireClient) s.warn(ctx.path, "the listener verifies client certificates only when offered; set require_client_certificate: true for mTLS");
  if (requireClient && !hasValidation) s.error(ctx.path, "require_client_certificate needs a validation_context with trusted_ca to verify the client");
  if (requireClient && unpinned) s.warn(`${ctx.path}.common_tls_context.validation_context`, "accepts any certificate signed by the CA: pin the peers' SANs with match_typed_subject_alt_names");
}

/** Runs every check, in the order the findings were always reported: clusters, addresses, filters, TLS. Pure. */
export function lintEnvoyConfig(config: unknown, visited: readonly VisitedMessage[]): EnvoyLintResult {
  const errors: EnvoyFinding[] = [];
  const warnings: EnvoyFinding[] = [];
  // Only extension configs the schema walk resolved are linted (an unknown @type is already an error).
  const resolved = new Set<unknown>(visited.map((m) => m.value));
  const s: LintScope = {
    config,
    of: (type) => visited.filter((m) => m.type === type),
    knownTypeOf: (typedConfig) => (resolved.has(typedConfig) ? typeOfAny(typedConfig) : undefined),
    error: (path, message) => errors.push({ path, message }),
    warn: (path, message) => warnings.push({ path, message }),
  };
  lintClusterReferences(s);
  lintAddresses(s);
  lintStaticEndpoints(s);
  lintNetworkFilterChains(s);
  lintHttpFilterChains(s);
  for (const ctx of [...s.of(T.downstreamTls), ...s.of(T.upstreamTls)]) {
    const downstream = ctx.type === T.downstreamTls;
    lintTlsVersions(s, ctx, downstream);
    lintPeerVerification(s, ctx, downstream);
  }
  return { errors, warnings };
}

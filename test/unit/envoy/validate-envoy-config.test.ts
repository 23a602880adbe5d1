import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import {
  checkEnvoyFile,
  parseEnvoyLabels,
  renderEnvoyBootstrap,
  validateEnvoyConfig,
  type EnvoyLabelsContext,
} from "../../../src/envoy/index.js";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../fixtures/envoy");
const fixture = (name: string) => fs.readFileSync(path.join(fixtures, name), "utf8");

const ctx: EnvoyLabelsContext = {
  prefix: "mtls.",
  identity: "shop_api",
  trustDomain: "example.org",
  serviceName: "shop_api",
  stack: "shop",
  spiffeIdOf: (name) => `spiffe://example.org/swarm/shop/${name}`,
};

/** A generated TCP-mode bootstrap with one upstream: listeners [inbound, outbound_payments, ready], clusters [app, upstream_payments, admin]. */
function generated(mode: "tcp" | "http" = "tcp"): any {
  return renderEnvoyBootstrap(parseEnvoyLabels({ "mtls.envoy": "true", "mtls.envoy.mode": mode, "mtls.envoy.upstreams": "payments:8443@9001" }, ctx)!);
}
const INBOUND = "static_resources.listeners[0].filter_chains[0]";
const TCP_PROXY = `${INBOUND}.filters[1].typed_config`;
const UPSTREAM_TLS = "static_resources.clusters[1].transport_socket.typed_config";

type Expected = Array<{ path?: string; message: string | RegExp }>;
type TapTest = Test;

/** Mutate a clean generated config and assert exactly the findings expected (in order). */
function check(t: TapTest, mutate: (c: any) => void, expected: { errors?: Expected; warnings?: Expected }, p?: { lint?: boolean }) {
  const config = generated();
  mutate(config);
  const result = validateEnvoyConfig(config, p);
  t.match(result.errors, expected.errors ?? [], "errors");
  t.equal(result.errors.length, (expected.errors ?? []).length, "error count");
  t.match(result.warnings, expected.warnings ?? [], "warnings");
  t.equal(result.warnings.length, (expected.warnings ?? []).length, "warning count");
  return result;
}

t.test("baseline: the generated config is clean", async (t) => {
  t.same(validateEnvoyConfig(generated("tcp")), { errors: [], warnings: [] });
  t.same(validateEnvoyConfig(generated("http")), { errors: [], warnings: [] });
});

t.test("misspelled field: error with the right name suggested", async (t) => {
  check(t, (c) => {
    c.static_resources.clusters[0].conect_timeout = c.static_resources.clusters[0].connect_timeout;
    delete c.static_resources.clusters[0].connect_timeout;
  }, { errors: [{ path: "static_resources.clusters[0].conect_timeout", message: 'unknown field "conect_timeout" in envoy.config.cluster.v3.Cluster; did you mean "connect_timeout"?' }] });
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config.statPrefx = "x"; }, {
    errors: [{ path: `${TCP_PROXY}.statPrefx`, message: /did you mean "stat_prefix"\?$/ }],
  });
  check(t, (c) => { c.bogus_thing = 1; }, { errors: [{ path: "bogus_thing", message: 'unknown field "bogus_thing" in envoy.config.bootstrap.v3.Bootstrap' }] });
});

t.test("wrong @type: unknown message, with a suggestion", async (t) => {
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config["@type"] = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxi"; }, {
    errors: [{ path: `${TCP_PROXY}["@type"]`, message: 'unknown @type "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxi": no such message in Envoy\'s API; did you mean "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"?' }],
  });
  check(t, (c) => { delete c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config["@type"]; }, {
    errors: [{ path: TCP_PROXY, message: /^missing "@type"/ }],
  });
});

t.test("extension in the wrong slot", async (t) => {
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config = { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }; }, {
    errors: [{
      path: `${INBOUND}.filters[0].typed_config["@type"]`,
      message: "envoy.extensions.filters.http.router.v3.Router is an HTTP filter config, but this slot takes a network filter config (envoy.extensions.filters.network.*)",
    }],
  });
  // A network filter among HTTP filters.
  const http = generated("http");
  http.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.unshift({
    name: "tcp", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "x", cluster: "app" },
  });
  t.match(validateEnvoyConfig(http).errors, [{ message: /is a network filter config, but this slot takes an HTTP filter config/ }]);
  // A filter as a transport socket.
  check(t, (c) => { c.static_resources.clusters[1].transport_socket.typed_config = { "@type": "type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo" }; }, {
    errors: [{ path: `${UPSTREAM_TLS}["@type"]`, message: /is a network filter config, but this slot takes a transport socket config/ }],
  });
  // A non-extension message as a typed_config.
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config = { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: "x" }; }, {
    errors: [{ path: `${INBOUND}.filters[0].typed_config["@type"]`, message: /envoy\.config\.cluster\.v3\.Cluster is not an extension config/ }],
  });
});

t.test("missing required fields (protoc-gen-validate rules)", async (t) => {
  check(t, (c) => { delete c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config.stat_prefix; }, {
    errors: [{ path: `${TCP_PROXY}.stat_prefix`, message: 'required field "stat_prefix" is missing: must not be empty' }],
  });
  check(t, (c) => { delete c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config.cluster; }, {
    errors: [{ path: TCP_PROXY, message: 'one of "cluster", "weighted_clusters" is required in envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy' }],
  });
  check(t, (c) => { delete c.static_resources.clusters[1].health_checks[0].timeout; }, {
    errors: [{ path: "static_resources.clusters[1].health_checks[0].timeout", message: 'required field "timeout" is missing' }],
  });
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.rules.policies["allowed-callers"].principals = []; }, {
    errors: [{ path: `${INBOUND}.filters[0].typed_config.rules.policies["allowed-callers"].principals`, message: "needs at least 1 item, has 0" }],
  });
  check(t, (c) => { c.overload_manager.resource_monitors[0].typed_config.max_active_downstream_connections = "0"; }, {
    errors: [{ path: "overload_manager.resource_monitors[0].typed_config.max_active_downstream_connections", message: "0 must be greater than 0" }],
  });
  check(t, (c) => { c.admin.address.socket_address.port_value = 70000; }, {
    errors: [{ path: "admin.address.socket_address.port_value", message: "70000 must be at most 65535" }],
  });
});

t.test("bad durations", async (t) => {
  const path = "static_resources.clusters[0].connect_timeout";
  check(t, (c) => { c.static_resources.clusters[0].connect_timeout = "5 seconds"; }, { errors: [{ path, message: '"5 seconds" is not a valid duration: use seconds with an "s" suffix, like "1s" or "0.250s"' }] });
  check(t, (c) => { c.static_resources.clusters[0].connect_timeout = "5m"; }, { errors: [{ path, message: /"5m" is not a valid duration/ }] });
  check(t, (c) => { c.static_resources.clusters[0].connect_timeout = 5; }, { errors: [{ path, message: 'expected a duration string like "1.5s", got number 5' }] });
  check(t, (c) => { c.static_resources.clusters[0].connect_timeout = "0s"; }, { errors: [{ path, message: "duration 0s must be greater than 0s" }] });
  check(t, (c) => { c.static_resources.clusters[0].connect_timeout = "0.000000001s"; }, {});
});

t.test("wrong enums", async (t) => {
  const path = "static_resources.clusters[0].lb_policy";
  check(t, (c) => { c.static_resources.clusters[0].lb_policy = "ROUND_ROBINN"; }, { errors: [{ path, message: /^"ROUND_ROBINN" is not a value of enum envoy\.config\.cluster\.v3\.Cluster\.LbPolicy .*; did you mean "ROUND_ROBIN"\?$/ }] });
  check(t, (c) => { c.static_resources.clusters[0].lb_policy = 4; }, { errors: [{ path, message: "4 is not a defined value of enum envoy.config.cluster.v3.Cluster.LbPolicy" }] });
  check(t, (c) => { c.static_resources.clusters[0].lb_policy = 1; }, {}); // LEAST_REQUEST by number
  check(t, (c) => { c.static_resources.clusters[0].lb_policy = true; }, { errors: [{ path, message: /^expected an enum name/ }] });
});

t.test("proto3 JSON scalars: strict bools, integers as numbers or strings, ranges", async (t) => {
  const rcc = `${INBOUND}.transport_socket.typed_config.require_client_certificate`;
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.require_client_certificate = "true"; }, {
    errors: [{ path: rcc, message: 'expected true or false, got string "true"' }],
    warnings: [{ message: /set require_client_certificate: true/ }],
  });
  check(t, (c) => { c.static_resources.clusters[1].health_checks[0].unhealthy_threshold = "3"; }, {}, { lint: true });
  check(t, (c) => { c.static_resources.clusters[1].health_checks[0].unhealthy_threshold = 1.5; }, {
    errors: [{ path: "static_resources.clusters[1].health_checks[0].unhealthy_threshold", message: "expected an integer (uint32), got number 1.5" }],
  });
  check(t, (c) => { c.static_resources.clusters[1].health_checks[0].unhealthy_threshold = -1; }, {
    errors: [{ message: "-1 is out of range for uint32" }],
  });
  check(t, (c) => { c.overload_manager.resource_monitors[0].typed_config.max_active_downstream_connections = "9007199254740993"; }, {});
  check(t, (c) => { c.static_resources.listeners[0].name = 7; }, { errors: [{ path: "static_resources.listeners[0].name", message: "expected a string, got number 7" }] });
  check(t, (c) => { c.static_resources.listeners[0].filter_chains = {}; }, { errors: [{ path: "static_resources.listeners[0].filter_chains", message: "expected a list, got an object" }] });
});

t.test("field names: snake_case and lowerCamel both accepted, not both at once; null means unset", async (t) => {
  check(t, (c) => { c.staticResources = c.static_resources; delete c.static_resources; }, {});
  check(t, (c) => { c.static_resources.clusters[0].connectTimeout = "1s"; }, {
    errors: [{ path: "static_resources.clusters[0].connectTimeout", message: 'field "connect_timeout" is given twice (as "connect_timeout" and "connectTimeout")' }],
  });
  check(t, (c) => { c.static_resources.clusters[0].dns_refresh_rate = null; }, {});
});

t.test("oneofs: only one member", async (t) => {
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config.weighted_clusters = { clusters: [{ name: "app", weight: 1 }] }; }, {
    errors: [{ path: TCP_PROXY, message: 'only one of "cluster", "weighted_clusters" may be set (oneof cluster_specifier in envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy)' }],
  });
});

t.test("deprecated fields warn; the deprecated SAN matcher is flagged", async (t) => {
  check(t, (c) => { c.static_resources.clusters[1].transport_socket.typed_config.common_tls_context.validation_context.match_subject_alt_names = [{ exact: "x" }]; }, {
    warnings: [{
      path: `${UPSTREAM_TLS}.common_tls_context.validation_context.match_subject_alt_names`,
      message: 'field "match_subject_alt_names" of envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext is deprecated',
    }],
  });
});

t.test("well-known types: Any of a wrapper, TypedStruct, Struct", async (t) => {
  // TypedStruct wrapping a network filter config: inner type resolved, slot-checked and validated.
  check(t, (c) => {
    c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config = {
      "@type": "type.googleapis.com/xds.type.v3.TypedStruct",
      type_url: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
      value: { stat_prefix: "x", cluster: "app", idle_timout: "1s" },
    };
  }, { errors: [{ path: `${TCP_PROXY}.value.idle_timout`, message: /did you mean "idle_timeout"/ }] });
  check(t, (c) => {
    c.layered_runtime = { layers: [{ name: "static", static_layer: { "overload.global_downstream_max_connections": 100, nested: { a: [1, "b"] } } }] };
  }, {});
  check(t, (c) => { c.layered_runtime = { layers: [{ name: "static", static_layer: [1] }] }; }, {
    errors: [{ path: "layered_runtime.layers[0].static_layer", message: "expected an object, got a list" }],
  });
});

t.test("lint: clusters, terminal filters, admin, mTLS posture, TLS versions", async (t) => {
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config.cluster = "ap"; }, {
    errors: [{ path: `${TCP_PROXY}.cluster`, message: 'cluster "ap" is not defined in static_resources.clusters; did you mean "app"?' }],
  });
  check(t, (c) => { c.static_resources.clusters.push({ ...c.static_resources.clusters[0] }); }, {
    errors: [{ path: "static_resources.clusters[3].name", message: 'cluster "app" is defined twice (also at static_resources.clusters[0])' }],
  });
  check(t, (c) => { c.static_resources.listeners[0].filter_chains[0].filters.reverse(); }, {
    errors: [
      { path: `${INBOUND}.filters[0]`, message: "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy is a terminal filter and must be the last in the chain" },
      { path: `${INBOUND}.filters[1]`, message: "the last network filter must be terminal (tcp_proxy, http_connection_manager, ...), not envoy.extensions.filters.network.rbac.v3.RBAC" },
    ],
  });
  check(t, (c) => { c.admin.address.socket_address.address = "0.0.0.0"; }, {
    warnings: [{ path: "admin.address.socket_address.address", message: /^admin listens on 0\.0\.0\.0/ }],
  });
  check(t, (c) => { c.static_resources.listeners[1].address.socket_address.port_value = 8443; c.static_resources.listeners[1].address.socket_address.address = "0.0.0.0"; }, {
    errors: [{ path: "static_resources.listeners[1].address.socket_address", message: "0.0.0.0:8443 is already bound by static_resources.listeners[0]" }],
  });
  check(t, (c) => { delete c.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.require_client_certificate; }, {
    warnings: [{ path: `${INBOUND}.transport_socket.typed_config`, message: /verifies client certificates only when offered/ }],
  });
  check(t, (c) => { delete c.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names; }, {
    warnings: [{ message: /accepts any certificate signed by the CA: pin the peers' SANs with match_typed_subject_alt_names/ }],
  });
  check(t, (c) => { delete c.static_resources.clusters[1].transport_socket.typed_config.common_tls_context.validation_context; }, {
    warnings: [{ path: UPSTREAM_TLS, message: /does not verify the server certificate/ }],
  });
  check(t, (c) => {
    const p = c.static_resources.clusters[1].transport_socket.typed_config.common_tls_context.tls_params;
    p.tls_minimum_protocol_version = "TLSv1_3";
    delete p.tls_maximum_protocol_version;
  }, {
    errors: [{ path: `${UPSTREAM_TLS}.common_tls_context.tls_params`, message: /minimum TLS version TLSv1_3 is above the maximum TLSv1_2 \(the client-side default maximum is TLSv1_2/ }],
  });
  check(t, (c) => { c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = "app"; }, {
    errors: [{ message: '"app" is not an IP address: a STATIC cluster cannot resolve names (use STRICT_DNS)' }],
  });
  const http = generated("http");
  http.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.reverse();
  t.match(validateEnvoyConfig(http).errors, [{ message: "the router must be the last HTTP filter" }, { message: /the last HTTP filter must be the router/ }]);
  t.same(validateEnvoyConfig(http, { lint: false }).errors, [], "lint can be turned off");
});

t.test("checkEnvoyFile: Envoy's own demo config passes, with the lint's warnings", async (t) => {
  const r = checkEnvoyFile(fixture("envoy-demo.yaml"));
  t.same(r.errors, []);
  t.match(r.warnings, [
    { path: "admin.address.socket_address.address", message: /^admin listens on 0\.0\.0\.0/ },
    { path: "static_resources.clusters[0].transport_socket.typed_config", message: /does not verify the server certificate/ },
  ]);
  t.equal(r.warnings.length, 2);
});

t.test("checkEnvoyFile: lowerCamel JSON with numbers as strings, enum numbers, protocol options", async (t) => {
  t.same(checkEnvoyFile(fixture("camel-case.json")), { errors: [], warnings: [] });
});

t.test("checkEnvoyFile: every mistake in a broken file is reported", async (t) => {
  const r = checkEnvoyFile(fixture("broken.yaml"));
  t.same(r.errors.map((e) => e.path), [
    'static_resources.listeners[0].filter_chains[0].filters[0].typed_config["@type"]',
    "static_resources.listeners[0].filter_chains[0].filters[1].typed_config.idle_timeout",
    "static_resources.clusters[0].conect_timeout",
    "static_resources.clusters[0].lb_policy",
    'static_resources.clusters[0].transport_socket.typed_config["@type"]',
    "static_resources.listeners[0].filter_chains[0].filters[1].typed_config.cluster",
  ]);
  t.match(r.errors, [
    { message: /Router is an HTTP filter config, but this slot takes a network filter config/ },
    { message: /"5m" is not a valid duration/ },
    { message: /did you mean "connect_timeout"/ },
    { message: /did you mean "ROUND_ROBIN"/ },
    { message: /did you mean "envoy\.extensions\.transport_sockets\.tls\.v3\.UpstreamTlsContext"/ },
    { message: /cluster "ap" is not defined.*did you mean "app"/ },
  ]);
});

t.test("checkEnvoyFile: YAML 1.1 booleans and parse errors", async (t) => {
  const yes = "admin:\n  address: {socket_address: {address: 127.0.0.1, port_value: 9901}}\nnode: {id: yes}\n";
  t.match(checkEnvoyFile(yes).errors, [{ path: "node.id", message: "expected a string, got boolean true" }], "a bare yes is a boolean to Envoy");
  t.match(checkEnvoyFile("{bad").errors, [{ path: "(file)", message: /^not valid YAML or JSON/ }]);
  t.match(checkEnvoyFile("").errors, [{ path: "(file)", message: "the file is empty" }]);
  t.match(checkEnvoyFile("a: 1\na: 2\n").errors, [{ path: "(file)", message: /not valid YAML or JSON/ }], "duplicate keys");
  t.match(checkEnvoyFile("- 1\n").errors, [{ path: "(root)", message: /expected an object/ }]);
});

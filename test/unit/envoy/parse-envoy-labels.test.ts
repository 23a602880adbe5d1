import t from "tap";
import { isMtlsError } from "../../../src/errors.js";
import { ENVOY_DEFAULTS, ENVOY_LABELS, parseEnvoyLabels, type EnvoyLabelsContext } from "../../../src/envoy/index.js";

const ctx: EnvoyLabelsContext = {
  prefix: "mtls.",
  identity: "shop_api",
  trustDomain: "example.org",
  serviceName: "shop_api",
  stack: "shop",
  spiffeIdOf: (name) => `spiffe://example.org/swarm/shop/${name.replace(/^shop_/, "")}`,
};

const on = (extra: Record<string, string> = {}) => ({ "mtls.envoy": "true", ...extra });

t.test("no sidecar unless mtls.envoy=true", async (t) => {
  t.equal(parseEnvoyLabels({}, ctx), null, "absent");
  t.equal(parseEnvoyLabels({ "mtls.envoy": "false", "mtls.envoy.listen": "nonsense" }, ctx), null, "false");
  t.equal(parseEnvoyLabels({ "mtls.enable": "true" }, ctx), null, "certificates only");
});

t.test("defaults that work", async (t) => {
  const s = parseEnvoyLabels(on(), ctx);
  t.same(s, {
    identity: "shop_api",
    trustDomain: "example.org",
    spiffeId: "spiffe://example.org/swarm/shop/api",
    mode: "tcp",
    listenPort: 8443,
    app: { host: "127.0.0.1", port: 8080 },
    allow: [],
    upstreams: [],
    tlsMinimum: "1.2",
    files: { cert: "/run/secrets/tls.crt", key: "/run/secrets/tls.key", ca: "/run/secrets/ca.crt" },
    adminPort: 9901,
    readyPort: 9902,
    maxConnections: 1024,
    connectTimeoutSeconds: 5,
    idleTimeoutSeconds: 300,
    target: "/etc/envoy/envoy.yaml",
  });
  t.equal(s?.target, ENVOY_DEFAULTS.target);
});

t.test("every label is read", async (t) => {
  const s = parseEnvoyLabels(
    on({
      "mtls.envoy.mode": "http",
      "mtls.envoy.listen": "10443",
      "mtls.envoy.app": "shop_api-app:3000",
      "mtls.envoy.upstreams": " payments:8443 , ledger:9443@19002,shop_search:8443@7001",
      "mtls.envoy.tls-min": "1.3",
      "mtls.envoy.admin-port": "19901",
      "mtls.envoy.ready-port": "19902",
      "mtls.envoy.max-connections": "5000",
      "mtls.envoy.connect-timeout": "2s",
      "mtls.envoy.idle-timeout": "1h",
      "mtls.envoy.target": "/config/envoy.yaml",
      "mtls.allow": "web, spiffe://example.org/swarm/shop/admin,web",
      "mtls.target.cert": "api.crt",
      "mtls.target.key": "/keys/api.key",
    }),
    ctx,
  );
  t.match(s, {
    mode: "http",
    listenPort: 10443,
    app: { host: "shop_api-app", port: 3000 },
    tlsMinimum: "1.3",
    adminPort: 19901,
    readyPort: 19902,
    maxConnections: 5000,
    connectTimeoutSeconds: 2,
    idleTimeoutSeconds: 3600,
    target: "/config/envoy.yaml",
    files: { cert: "/run/secrets/api.crt", key: "/keys/api.key", ca: "/run/secrets/ca.crt" },
  });
  t.same(s?.allow, ["spiffe://example.org/swarm/shop/web", "spiffe://example.org/swarm/shop/admin"], "identities resolved, duplicates dropped");
  t.same(s?.upstreams, [
    { name: "payments", port: 8443, localPort: 8443, spiffeId: "spiffe://example.org/swarm/shop/payments", address: "tasks.payments" },
    { name: "ledger", port: 9443, localPort: 19002, spiffeId: "spiffe://example.org/swarm/shop/ledger", address: "tasks.ledger" },
    { name: "shop_search", port: 8443, localPort: 7001, spiffeId: "spiffe://example.org/swarm/shop/search", address: "tasks.shop_search" },
  ]);
});

t.test("app label: PORT means the same container", async (t) => {
  t.same(parseEnvoyLabels(on({ "mtls.envoy.app": "3000" }), ctx)?.app, { host: "127.0.0.1", port: 3000 });
  t.same(parseEnvoyLabels(on({ "mtls.envoy.app": "10.0.0.7:80" }), ctx)?.app, { host: "10.0.0.7", port: 80 });
});

t.test("another prefix", async (t) => {
  const s = parseEnvoyLabels({ "acme.envoy": "true", "acme.envoy.listen": "9443", "mtls.envoy.listen": "1" }, { ...ctx, prefix: "acme." });
  t.equal(s?.listenPort, 9443);
  t.throws(() => parseEnvoyLabels({ "acme.envoy": "true", "acme.envoy.listen": "x" }, { ...ctx, prefix: "acme." }), {
    message: "label acme.envoy.listen: 'x' is not a port (1-65535)",
  });
});

const bad: Array<[string, Record<string, string>, string | RegExp]> = [
  ["envoy not a boolean", { "mtls.envoy": "yes" }, "label mtls.envoy: 'yes' must be true or false"],
  ["listen not a port", on({ "mtls.envoy.listen": "abc" }), "label mtls.envoy.listen: 'abc' is not a port (1-65535)"],
  ["listen out of range", on({ "mtls.envoy.listen": "70000" }), "label mtls.envoy.listen: '70000' is not a port (1-65535)"],
  ["listen zero", on({ "mtls.envoy.listen": "0" }), "label mtls.envoy.listen: '0' is not a port (1-65535)"],
  ["admin port", on({ "mtls.envoy.admin-port": "-1" }), "label mtls.envoy.admin-port: '-1' is not a port (1-65535)"],
  ["ready port", on({ "mtls.envoy.ready-port": "9902.5" }), "label mtls.envoy.ready-port: '9902.5' is not a port (1-65535)"],
  ["mode", on({ "mtls.envoy.mode": "grpc" }), "label mtls.envoy.mode: 'grpc' must be tcp or http"],
  ["tls", on({ "mtls.envoy.tls-min": "1.1" }), "label mtls.envoy.tls-min: '1.1' must be 1.2 or 1.3"],
  ["app no port", on({ "mtls.envoy.app": "api:" }), "label mtls.envoy.app: 'api:' has no valid port after 'api:' (1-65535)"],
  ["app bad host", on({ "mtls.envoy.app": "a b:80" }), "label mtls.envoy.app: 'a b:80' has an invalid host 'a b' (an IPv4 address or a service name)"],
  ["app bare host", on({ "mtls.envoy.app": "api" }), "label mtls.envoy.app: 'api' must be PORT or HOST:PORT"],
  ["upstream without port", on({ "mtls.envoy.upstreams": "payments" }), "label mtls.envoy.upstreams: 'payments' must be name:port or name:port@localPort"],
  ["upstream bad port", on({ "mtls.envoy.upstreams": "payments:http" }), "label mtls.envoy.upstreams: 'payments:http' has an invalid port 'http' (1-65535)"],
  ["upstream bad local port", on({ "mtls.envoy.upstreams": "payments:8443@0" }), "label mtls.envoy.upstreams: 'payments:8443@0' has an invalid local port '0' (1-65535)"],
  ["upstream tasks. prefix", on({ "mtls.envoy.upstreams": "tasks.payments:8443" }), "label mtls.envoy.upstreams: 'tasks.payments:8443' names the service, not its DNS name: write 'payments:8443'"],
  ["upstream twice", on({ "mtls.envoy.upstreams": "a:1@2001,a:2@2002" }), "label mtls.envoy.upstreams: 'a:2@2002' lists 'a' twice"],
  ["local port clash", on({ "mtls.envoy.upstreams": "payments:9901" }), "label mtls.envoy.upstreams (payments local port): port 9901 is already used by mtls.envoy.admin-port"],
  ["listen = ready", on({ "mtls.envoy.ready-port": "8443" }), "label mtls.envoy.ready-port: port 8443 is already used by mtls.envoy.listen"],
  ["app on loopback clashes", on({ "mtls.envoy.app": "8443" }), "label mtls.envoy.app (the app on loopback): port 8443 is already used by mtls.envoy.listen"],
  ["max connections", on({ "mtls.envoy.max-connections": "0" }), "label mtls.envoy.max-connections: '0' is not a whole number between 1 and 10000000"],
  ["timeout unit", on({ "mtls.envoy.idle-timeout": "5d" }), /^label mtls\.envoy\.idle-timeout: '5d' is not a duration/],
  ["target relative", on({ "mtls.envoy.target": "envoy.yaml" }), "label mtls.envoy.target: 'envoy.yaml' is not an absolute file path"],
  ["allow foreign trust domain", on({ "mtls.allow": "spiffe://evil.org/swarm/x/y" }), "label mtls.allow: 'spiffe://evil.org/swarm/x/y' is outside the trust domain example.org"],
  ["allow junk", on({ "mtls.allow": "web,a b" }), "label mtls.allow: 'a b' is not an identity name or a spiffe:// ID"],
  ["cert target traversal", on({ "mtls.target.cert": "../x" }), "label mtls.target.cert: '../x' is not a file name (letters, digits, . _ -)"],
  ["misspelled label", on({ "mtls.envoy.lisen": "8443" }), /^label mtls\.envoy\.lisen: unknown Envoy label; did you mean mtls\.envoy\.listen\?/],
];

t.test("bad labels are rejected with the label and value named", async (t) => {
  for (const [name, labels, message] of bad) {
    t.throws(() => parseEnvoyLabels(labels, ctx), { name: "MtlsError", code: "bad-input", message }, name);
    try {
      parseEnvoyLabels(labels, ctx);
    } catch (e) {
      t.ok(isMtlsError(e, "bad-input"), `${name}: bad-input`);
    }
  }
});

t.test("the label reference covers every label the parser reads", async (t) => {
  const names = ENVOY_LABELS.map((l) => l.name);
  t.same(new Set(names).size, names.length, "no duplicates");
  for (const l of ENVOY_LABELS) {
    t.ok(l.meaning.length > 10 && l.values.length > 0 && l.default.length > 0, `${l.name} documented`);
  }
  // Every documented envoy.* label is accepted (not an "unknown Envoy label").
  const sample: Record<string, string> = {
    "envoy.mode": "tcp", "envoy.listen": "8443", "envoy.app": "8080", "envoy.upstreams": "a:9000", "envoy.tls-min": "1.2",
    "envoy.admin-port": "9901", "envoy.ready-port": "9902", "envoy.max-connections": "10", "envoy.connect-timeout": "5",
    "envoy.idle-timeout": "60", "envoy.target": "/etc/envoy/envoy.yaml",
  };
  for (const l of ENVOY_LABELS.filter((l) => l.name.startsWith("envoy."))) {
    t.ok(sample[l.name], `sample for ${l.name}`);
    t.doesNotThrow(() => parseEnvoyLabels(on({ [`mtls.${l.name}`]: sample[l.name] as string }), ctx), l.name);
  }
});

import t, { type Test } from "tap";
import { Writable } from "node:stream";
import { buildApiApp, type ApiAppParams } from "../../../src/api/app.js";
import { createMetrics, METRIC_NAMES } from "../../../src/api/metrics.js";
import { MtlsError, type ErrorCode } from "../../../src/errors.js";
import { createLogger } from "../../../src/log.js";
import { BOOTSTRAP_YAML, BUNDLE_PEM, FakeControlPlane, SERVICES } from "./fake-control-plane.js";

const TOKEN = "test-admin-token-0123456789abcdef";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBfakecsr\n-----END CERTIFICATE REQUEST-----\n";

/** Builds the app on a fresh fake control plane, capturing log lines. */
async function setup(t: Test, overrides: Partial<ApiAppParams> = {}) {
  const cp = new FakeControlPlane();
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString("utf8"));
      cb();
    },
  });
  const metrics = createMetrics({ processMetrics: false, now: () => Date.parse("2030-01-01T00:00:00Z") });
  const app = await buildApiApp({
    controlPlane: cp,
    metrics,
    logger: createLogger({ level: "debug", pretty: false, destination }),
    adminToken: TOKEN,
    ...overrides,
  });
  t.teardown(() => app.close());
  return { app, cp, metrics, logText: () => logLines.join("") };
}

/** The `error` member of a problem-details reply (the rest is checked in its own test). */
const errorBody = (body: string) => ({ error: (JSON.parse(body) as { error: { code: string; message: string } }).error });

t.test("GET /healthz answers ok", async (t) => {
  const { app } = await setup(t);
  const r = await app.inject({ method: "GET", url: "/healthz" });
  t.equal(r.statusCode, 200);
  t.same(r.json(), { status: "ok" });
});

t.test("GET /readyz: 200 when ready; 503 with the kind of failure when not, its text only in the log (once)", async (t) => {
  const { app, cp, logText } = await setup(t);
  t.same((await app.inject("/readyz")).json(), { ready: true });

  cp.readiness = { ready: false, reason: "docker: list configs failed: 500 The swarm does not have a leader (/var/run/docker.sock)", code: "docker" };
  const notReady = await app.inject("/readyz");
  t.equal(notReady.statusCode, 503);
  t.same(notReady.json(), { ready: false, reason: "the Docker engine cannot be reached or refused a call; see the swarm-mtls log" });
  t.notMatch(notReady.body, /leader|docker\.sock/, "no engine text in the public reply");
  await app.inject("/readyz");
  t.equal(logText().split("does not have a leader").length - 1, 1, "the detail is logged once, not per probe");

  cp.readiness = { ready: false, reason: "the key-encryption key /run/secrets/swarm-mtls-kek does not open the CA", code: "kek" };
  const kek = await app.inject("/readyz");
  t.same(kek.json(), { ready: false, reason: "the CA state cannot be opened with the key-encryption key; see the swarm-mtls log" });
  t.notMatch(kek.body, "/run/secrets", "no KEK path in the public reply");
  t.match(logText(), "/run/secrets/swarm-mtls-kek", "the KEK detail is in the log");

  cp.readiness = { ready: false, reason: "no CA in the store", code: "no-ca" };
  t.same((await app.inject("/readyz")).json(), { ready: false, reason: "no CA in the store yet; see the swarm-mtls log" });
  cp.readiness = { ready: false, reason: "something else" };
  t.same((await app.inject("/readyz")).json(), { ready: false, reason: "not ready; see the swarm-mtls log" });

  cp.failWith = new Error("connect ECONNREFUSED /var/run/docker.sock");
  const broken = await app.inject("/readyz");
  t.equal(broken.statusCode, 503);
  t.same(broken.json(), { ready: false, reason: "not ready; see the swarm-mtls log" });
  t.match(logText(), /ECONNREFUSED/, "the cause is in the log");
});

t.test("5xx for anyone but an admin: the kind of failure, never the engine's or the KEK's text (that is logged)", async (t) => {
  const { app, cp, logText } = await setup(t);
  const cases: [MtlsError, number, string][] = [
    [new MtlsError("docker", "list services failed: connect ECONNREFUSED /var/run/docker.sock"), 502, "the Docker engine could not be reached or refused a call; see the swarm-mtls log"],
    [new MtlsError("kek", "the key-encryption key /run/secrets/swarm-mtls-kek does not open the CA state"), 500, "the CA state cannot be opened; see the swarm-mtls log"],
    [new MtlsError("no-ca", "no CA in config mtls.ca-state; run swarm-mtls init --kek-file /data/kek"), 503, "no CA is available yet; see the swarm-mtls log"],
    [new MtlsError("timeout", "engine did not answer GET /services?filters=secret in 30s"), 504, "the operation timed out; see the swarm-mtls log"],
  ];
  for (const [err, status, message] of cases) {
    cp.failWith = err;
    for (const url of ["/v1/services", "/v1/ca", "/v1/envoy/stack_api/bootstrap.yaml"]) {
      const r = await app.inject(url);
      t.equal(r.statusCode, status, `${err.code} ${url}`);
      t.same(errorBody(r.body), { error: { code: err.code, message } }, `${err.code} ${url}: generic`);
      t.equal(r.json().detail, message);
    }
    t.match(logText(), err.message, `${err.code}: the detail is in the log`);
  }
  // Wrong credentials on an admin route are no admin: 401 first, the control plane is not reached.
  const bad = await app.inject({ method: "POST", url: "/v1/rotate", headers: { authorization: "Bearer nope-nope-nope-nope" } });
  t.equal(bad.statusCode, 401);
  // An admin reads the detail (the rollout's or the engine's own words), see the mapping test below.
  cp.failWith = cases[0]?.[0];
  t.match(errorBody((await app.inject({ method: "POST", url: "/v1/rotate", headers: AUTH })).body).error.message, "ECONNREFUSED");
});

t.test("GET /metrics exposes the swarm_mtls_ series after recording", async (t) => {
  const { app, metrics } = await setup(t);
  metrics.certificatesIssued("ecdsa-p256");
  metrics.rotation("rotated", 4.2);
  metrics.setLeafExpiry("stack_api", new Date("2030-01-01T01:00:00Z"));
  metrics.setCaExpiry("intermediate", "ab".repeat(32), new Date("2030-01-11T00:00:00Z"));
  metrics.reconcileSucceeded(new Date("2029-12-31T23:55:00Z"));
  const r = await app.inject("/metrics");
  t.equal(r.statusCode, 200);
  t.match(r.headers["content-type"], /^text\/plain/);
  t.match(r.body, `${METRIC_NAMES.certificatesIssued}{algorithm="ecdsa-p256"} 1`);
  t.match(r.body, `${METRIC_NAMES.rotations}{result="rotated"} 1`);
  t.match(r.body, `${METRIC_NAMES.rotationDuration}_count{result="rotated"} 1`);
  t.match(r.body, `${METRIC_NAMES.leafExpiry}{identity="stack_api"} 3600`);
  t.match(r.body, `${METRIC_NAMES.caExpiry}{role="intermediate",fingerprint="${"ab".repeat(32)}"} 864000`);
  t.match(r.body, `${METRIC_NAMES.lastReconcile} ${Date.parse("2029-12-31T23:55:00Z") / 1000}`);
});

t.test("GET /v1/bundle.pem serves the trust bundle as PEM", async (t) => {
  const { app } = await setup(t);
  const r = await app.inject("/v1/bundle.pem");
  t.equal(r.statusCode, 200);
  t.equal(r.headers["content-type"], "application/x-pem-file");
  t.equal(r.body, BUNDLE_PEM);
});

t.test("GET /v1/ca lists the CA certificates with ISO dates", async (t) => {
  const { app } = await setup(t);
  const r = await app.inject("/v1/ca");
  t.equal(r.statusCode, 200);
  const [root] = r.json().certificates;
  t.match(root, { role: "root", notAfter: "2035-01-01T00:00:00.000Z", keyOnline: false, keyAlgorithm: "ecdsa-p384" });
});

t.test("GET /v1/services and /v1/services/:identity show status", async (t) => {
  const { app } = await setup(t);
  const all = await app.inject("/v1/services");
  t.equal(all.statusCode, 200);
  t.same(all.json().services, SERVICES);

  const one = await app.inject("/v1/services/stack_api");
  t.equal(one.statusCode, 200);
  t.same(one.json(), SERVICES[0]);

  const missing = await app.inject("/v1/services/stack_nope");
  t.equal(missing.statusCode, 404);
  t.same(errorBody(missing.body), { error: { code: "not-found", message: "no opted-in service has identity stack_nope" } });
});

t.test("identity path parameters are validated: traversal and odd names get 400 and never reach the control plane", async (t) => {
  const { app, cp } = await setup(t);
  for (const url of [
    "/v1/services/..%2f..%2fetc%2fpasswd",
    "/v1/services/.hidden",
    "/v1/services/Stack_API",
    `/v1/services/${"a".repeat(64)}`,
    "/v1/services/a%00b",
    "/v1/envoy/..%2fsecrets/bootstrap.yaml",
  ]) {
    const r = await app.inject(url);
    t.equal(r.statusCode, 400, url);
    t.equal(errorBody(r.body).error.code, "bad-input", url);
    t.match(errorBody(r.body).error.message, "params.identity", url);
  }
  // Dot segments are resolved by URL parsing before routing: `/v1/services/..` is `/v1/`, which is no route.
  const dots = await app.inject("/v1/services/%2e%2e");
  t.equal(dots.statusCode, 404);
  t.equal(errorBody(dots.body).error.message, "no route for GET /v1/");
  const post = await app.inject({ method: "POST", url: "/v1/services/..%2fx/rotate", headers: AUTH, payload: {} });
  t.equal(post.statusCode, 400);
  t.same(cp.calls, [], "the control plane was not called");
});

t.test("GET /v1/envoy/:identity/bootstrap.yaml serves YAML, 404 when the identity has no sidecar", async (t) => {
  const { app } = await setup(t);
  const r = await app.inject("/v1/envoy/stack_api/bootstrap.yaml");
  t.equal(r.statusCode, 200);
  t.match(r.headers["content-type"], /^text\/yaml/);
  t.equal(r.body, BOOTSTRAP_YAML);
  const none = await app.inject("/v1/envoy/stack_db/bootstrap.yaml");
  t.equal(none.statusCode, 404);
  t.equal(errorBody(none.body).error.code, "not-found");
  t.match(none.headers["content-type"], /^application\/problem\+json/);
});

t.test("admin routes refuse requests without valid credentials, with 401 and WWW-Authenticate, changing nothing", async (t) => {
  const { app, cp } = await setup(t);
  const attempts: { method: "POST"; url: string; headers?: Record<string, string>; payload?: object }[] = [];
  for (const url of ["/v1/rotate", "/v1/services/stack_api/rotate", "/v1/sign"]) {
    const payload = url === "/v1/sign" ? { identity: "stack_api", csr: CSR } : {};
    attempts.push(
      { method: "POST", url, payload },
      { method: "POST", url, payload, headers: { authorization: "Bearer wrong-token" } },
      { method: "POST", url, payload, headers: { authorization: `Bearer ${TOKEN}x` } },
      { method: "POST", url, payload, headers: { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString("base64")}` } },
      { method: "POST", url, payload, headers: { authorization: "Bearer" } },
    );
  }
  for (const a of attempts) {
    const r = await app.inject(a);
    t.equal(r.statusCode, 401, `${a.url} ${a.headers?.authorization ?? "(none)"}`);
    t.equal(r.headers["www-authenticate"], 'Bearer realm="swarm-mtls"');
    t.equal(errorBody(r.body).error.code, "unauthorized");
  }
  t.same(cp.mutatingCalls(), [], "nothing was rotated or signed");
});

t.test("an unauthenticated caller cannot make the server read a large body: 401 comes before 413", async (t) => {
  const { app, cp } = await setup(t);
  const r = await app.inject({ method: "POST", url: "/v1/sign", payload: { identity: "stack_api", csr: CSR + "x".repeat(100_000) } });
  t.equal(r.statusCode, 401);
  t.same(cp.mutatingCalls(), []);
});

t.test("POST /v1/services/:identity/rotate with the token rotates that identity as actor 'token'", async (t) => {
  const { app, cp } = await setup(t);
  const r = await app.inject({ method: "POST", url: "/v1/services/stack_api/rotate", headers: AUTH });
  t.equal(r.statusCode, 200);
  t.same(r.json(), {
    outcomes: [{ identity: "stack_api", service: "stack_api", action: "rotated", reason: "due", generationBefore: 3, generationAfter: 4 }],
  });
  t.same(cp.mutatingCalls(), [{ method: "rotate", args: ["stack_api", { force: false, dryRun: false }, "token"] }]);

  const planned = await app.inject({ method: "POST", url: "/v1/services/stack_api/rotate", headers: AUTH, payload: { force: true, dryRun: true } });
  t.equal(planned.statusCode, 200);
  t.match(planned.json().outcomes[0], { action: "planned", reason: "forced", generationAfter: 3 });

  const unknown = await app.inject({ method: "POST", url: "/v1/services/stack_nope/rotate", headers: AUTH, payload: {} });
  t.equal(unknown.statusCode, 404);
  t.equal(errorBody(unknown.body).error.code, "not-found");
});

t.test("POST /v1/rotate rotates every service; the token may carry surrounding whitespace from its file", async (t) => {
  const { app, cp } = await setup(t, { adminToken: `${TOKEN}\n` });
  const r = await app.inject({ method: "POST", url: "/v1/rotate", headers: AUTH, payload: { force: true } });
  t.equal(r.statusCode, 200);
  t.equal(r.json().outcomes.length, SERVICES.length);
  t.same(cp.mutatingCalls()[0]?.args, [null, { force: true, dryRun: false }, "token"]);

  const emptyJson = await app.inject({ method: "POST", url: "/v1/rotate", headers: { ...AUTH, "content-type": "application/json" } });
  t.equal(emptyJson.statusCode, 200, "an empty JSON body means no options");
  t.same(cp.mutatingCalls()[1]?.args, [null, { force: false, dryRun: false }, "token"]);
  const emptySign = await app.inject({ method: "POST", url: "/v1/sign", headers: { ...AUTH, "content-type": "application/json" } });
  t.equal(emptySign.statusCode, 400);
  t.match(errorBody(emptySign.body).error.message, /body must be object/);
  t.equal(cp.mutatingCalls().length, 2);
});

t.test("rotate bodies are validated strictly, naming the field, and rejected bodies change nothing", async (t) => {
  const { app, cp } = await setup(t);
  const cases: { payload: string; contentType?: string; status: number; message: RegExp }[] = [
    { payload: JSON.stringify({ forced: true }), status: 400, message: /body has unknown field "forced"/ },
    { payload: JSON.stringify({ force: "yes" }), status: 400, message: /body\.force must be boolean/ },
    { payload: JSON.stringify({ dryRun: 1 }), status: 400, message: /body\.dryRun must be boolean/ },
    { payload: JSON.stringify([true]), status: 400, message: /body must be object/ },
    { payload: '{"force": tru', status: 400, message: /JSON/i },
    { payload: '{"__proto__": {"force": true}}', status: 400, message: /JSON/ },
    { payload: "force=true", contentType: "application/x-www-form-urlencoded", status: 415, message: /content-type/i },
    { payload: '{"force": true}', contentType: "text/plain", status: 415, message: /unsupported content-type 'text\/plain'; send application\/json/ },
    { payload: "force", contentType: "text/plain; charset=utf-8", status: 415, message: /unsupported content-type 'text\/plain'/ },
  ];
  for (const c of cases) {
    const r = await app.inject({
      method: "POST", url: "/v1/rotate", payload: c.payload,
      headers: { ...AUTH, "content-type": c.contentType ?? "application/json" },
    });
    t.equal(r.statusCode, c.status, c.payload);
    t.equal(errorBody(r.body).error.code, "bad-input", c.payload);
    t.match(errorBody(r.body).error.message, c.message, c.payload);
  }
  t.same(cp.mutatingCalls(), []);
});

t.test("bodies over the limit get 413 and change nothing", async (t) => {
  const { app, cp } = await setup(t);
  const big = { identity: "stack_api", csr: CSR + "A".repeat(70 * 1024) };
  const r = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: big });
  t.equal(r.statusCode, 413);
  t.equal(errorBody(r.body).error.code, "bad-input");

  const small = await setup(t, { bodyLimit: 64 });
  const r2 = await small.app.inject({ method: "POST", url: "/v1/rotate", headers: AUTH, payload: { force: true, dryRun: true, pad: "x".repeat(100) } });
  t.equal(r2.statusCode, 413);
  t.same(cp.mutatingCalls(), []);
  t.same(small.cp.mutatingCalls(), []);
});

t.test("POST /v1/sign signs within policy; ttl as a duration or seconds; dns passed on", async (t) => {
  const { app, cp } = await setup(t);
  const r = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: { identity: "stack_api", csr: CSR, ttl: "24h", dns: ["api", "tasks.api"] } });
  t.equal(r.statusCode, 200);
  t.match(r.json(), { identity: "stack_api", serial: "0f", notAfter: "2030-01-01T00:00:00.000Z", chainPem: /BEGIN CERTIFICATE/, bundlePem: BUNDLE_PEM });
  t.same(cp.mutatingCalls()[0]?.args, [{ identity: "stack_api", csrPem: CSR, ttlSeconds: 86400, dnsNames: ["api", "tasks.api"] }, "token"]);

  const seconds = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: { identity: "stack_api", csr: CSR, ttl: 5400 } });
  t.equal(seconds.statusCode, 200);
  t.same(cp.mutatingCalls()[1]?.args, [{ identity: "stack_api", csrPem: CSR, ttlSeconds: 5400 }, "token"]);

  const policy = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: { identity: "stack_api", csr: CSR, ttl: "30d" } });
  t.equal(policy.statusCode, 400);
  t.same(errorBody(policy.body), { error: { code: "bad-input", message: "ttl exceeds the CA maximum of 7d" } });
});

t.test("POST /v1/sign speaks the one duration grammar and holds the one 5-minute minimum", async (t) => {
  const { app, cp } = await setup(t);
  const mixed = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: { identity: "stack_api", csr: CSR, ttl: "1h30m" } });
  t.equal(mixed.statusCode, 200, "1h30m, as config and labels accept it");
  t.same(cp.mutatingCalls()[0]?.args, [{ identity: "stack_api", csrPem: CSR, ttlSeconds: 5400 }, "token"]);
  const least = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: { identity: "stack_api", csr: CSR, ttl: "5m" } });
  t.equal(least.statusCode, 200, "exactly the minimum is fine");

  const short = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: { identity: "stack_api", csr: CSR, ttl: "1s" } });
  t.equal(short.statusCode, 400);
  t.same(errorBody(short.body), { error: { code: "bad-input", message: "body.ttl: '1s' is shorter than the minimum of 5m" } });
  const shortSeconds = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: { identity: "stack_api", csr: CSR, ttl: 299 } });
  t.equal(shortSeconds.statusCode, 400);
  t.match(errorBody(shortSeconds.body).error.message, /body\.ttl must be >= 300/);
  t.equal(cp.mutatingCalls().length, 2, "nothing was signed for the short lifetimes");
});

t.test("POST /v1/sign rejects bad input naming the field, without calling the control plane", async (t) => {
  const { app, cp } = await setup(t);
  const cases: [object, RegExp][] = [
    [{ identity: "stack_api" }, /body\.csr is required/],
    [{ csr: CSR }, /body\.identity is required/],
    [{ identity: "../etc", csr: CSR }, /body\.identity must match pattern/],
    [{ identity: "stack_api", csr: "not a csr" }, /body\.csr must match pattern/],
    [{ identity: "stack_api", csr: CSR, ttl: "1x" }, /body\.ttl must match pattern/],
    [{ identity: "stack_api", csr: CSR, ttl: "2y" }, /body\.ttl must be at most 366d/],
    [{ identity: "stack_api", csr: CSR, ttl: "0s" }, /body\.ttl: '0s' must be longer than zero/],
    [{ identity: "stack_api", csr: CSR, ttl: 0 }, /body\.ttl must be >= 300/],
    [{ identity: "stack_api", csr: CSR, ttl: 1.5 }, /body\.ttl must be string,integer/],
    [{ identity: "stack_api", csr: CSR, ttl: "9999999d" }, /body\.ttl must be at most 366d/],
    [{ identity: "stack_api", csr: CSR, dns: ["ok.example", "bad name"] }, /body\.dns\.1 must match pattern/],
    [{ identity: "stack_api", csr: CSR, dns: "api" }, /body\.dns must be array/],
    [{ identity: "stack_api", csr: CSR, key: "-----BEGIN PRIVATE KEY-----" }, /body has unknown field "key"/],
  ];
  for (const [payload, message] of cases) {
    const r = await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload });
    t.equal(r.statusCode, 400, JSON.stringify(payload));
    t.match(errorBody(r.body).error.message, message, JSON.stringify(payload));
  }
  t.same(cp.mutatingCalls(), []);
});

t.test("MtlsError codes map to HTTP statuses with {error: {code, message}}", async (t) => {
  const expected: [ErrorCode, number][] = [
    ["bad-input", 400], ["kek", 500], ["no-ca", 503], ["ca-exists", 409], ["not-found", 404], ["unauthorized", 401],
    ["lease-held", 409], ["docker", 502], ["rollout-failed", 500], ["timeout", 504],
  ];
  const { app, cp } = await setup(t);
  for (const [code, status] of expected) {
    cp.failWith = new MtlsError(code, `problem ${code}`);
    const r = await app.inject({ method: "POST", url: "/v1/rotate", headers: AUTH });
    t.equal(r.statusCode, status, code);
    t.same(errorBody(r.body), { error: { code, message: `problem ${code}` } }, code);
  }
  cp.failWith = new MtlsError("internal", "invariant broken at step 3");
  const internal = await app.inject("/v1/services");
  t.equal(internal.statusCode, 500);
  t.equal(errorBody(internal.body).error.code, "internal");
  t.notMatch(internal.body, "invariant", "an internal error's details stay in the log");
});

t.test("an unexpected error is a generic 500; the details go to the log only", async (t) => {
  const { app, cp, logText } = await setup(t);
  cp.failWith = new Error("ENOENT: /var/lib/swarm-mtls/state.json at secret place");
  const r = await app.inject("/v1/bundle.pem");
  t.equal(r.statusCode, 500);
  t.same(errorBody(r.body), { error: { code: "internal", message: "internal error; see the swarm-mtls log" } });
  t.match(r.headers["content-type"], /^application\/problem\+json/);
  t.match(logText(), /secret place/);
});

t.test("unknown routes get a JSON 404", async (t) => {
  const { app } = await setup(t);
  const r = await app.inject("/v1/nothing-here");
  t.equal(r.statusCode, 404);
  t.same(errorBody(r.body), { error: { code: "not-found", message: "no route for GET /v1/nothing-here" } });
});

t.test("with no admin token configured, no bearer token is accepted", async (t) => {
  const { app, cp, logText } = await setup(t, { adminToken: null });
  const r = await app.inject({ method: "POST", url: "/v1/rotate", headers: { authorization: "Bearer null" } });
  t.equal(r.statusCode, 401);
  t.same(cp.mutatingCalls(), []);
  t.match(logText(), /admin routes \(rotate, sign\) will refuse every request/);
});

t.test("an empty admin token is refused at start", async (t) => {
  await t.rejects(setup(t, { adminToken: " \n" }), /admin token is empty/);
});

t.test("the admin token and key-looking fields never reach the log", async (t) => {
  const { app, logText } = await setup(t);
  await app.inject({ method: "POST", url: "/v1/rotate", headers: AUTH });
  await app.inject({ method: "POST", url: "/v1/rotate", headers: { authorization: "Bearer wrong-token-value" } });
  await app.inject({ method: "POST", url: "/v1/sign", headers: AUTH, payload: { identity: "stack_api", csr: CSR } });
  app.log.info({ headers: AUTH }, "a careless line");
  const log = logText();
  t.match(log, /request completed/, "requests are logged");
  t.notMatch(log, TOKEN);
  t.notMatch(log, "wrong-token-value");
  t.match(log, /\[redacted\]/);
});

t.test("the OpenAPI document at /docs/json lists every route with its methods", async (t) => {
  const { app } = await setup(t);
  const r = await app.inject("/docs/json");
  t.equal(r.statusCode, 200);
  const doc = r.json() as { openapi: string; paths: Record<string, Record<string, { security?: unknown }>> };
  t.match(doc.openapi, /^3\./);
  const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  t.same(routes, [
    "GET /docs/json",
    "GET /healthz",
    "GET /metrics",
    "GET /readyz",
    "GET /v1/bundle.pem",
    "GET /v1/ca",
    "GET /v1/envoy/{identity}/bootstrap.yaml",
    "GET /v1/services",
    "GET /v1/services/{identity}",
    "POST /v1/renew",
    "POST /v1/rotate",
    "POST /v1/services/{identity}/rotate",
    "POST /v1/sign",
  ]);
  t.ok(doc.paths["/v1/sign"]?.post?.security, "admin routes declare their security");
  t.notOk(doc.paths["/v1/bundle.pem"]?.get?.security, "public routes do not");
  t.match(JSON.stringify(doc.paths["/v1/sign"]), '"$ref":"#/components/schemas/ErrorReply"', "errors are documented by name");
});

t.test("errors are RFC 9457 problem details (application/problem+json), with the earlier error object kept", async (t) => {
  const { app } = await setup(t);
  const r = await app.inject("/v1/envoy/stack_db/bootstrap.yaml?x=1");
  t.equal(r.statusCode, 404);
  t.match(r.headers["content-type"], /^application\/problem\+json/);
  const body = JSON.parse(r.body) as Record<string, unknown>;
  t.match(body, { type: "about:blank", title: "Not Found", status: 404, instance: "/v1/envoy/stack_db/bootstrap.yaml", code: "not-found" });
  t.equal(body.detail, (body.error as { message: string }).message, "detail is the message");
  const noRoute = await app.inject("/v1/nothing-here");
  t.match(noRoute.headers["content-type"], /^application\/problem\+json/);
  t.match(JSON.parse(noRoute.body), { status: 404, title: "Not Found", code: "not-found", detail: /no route for GET \/v1\/nothing-here/ });
  const unauth = await app.inject({ method: "POST", url: "/v1/rotate", payload: {} });
  t.match(JSON.parse(unauth.body), { status: 401, title: "Unauthorized", code: "unauthorized", type: "about:blank" });
});

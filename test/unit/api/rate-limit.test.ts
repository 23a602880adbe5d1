/**
 * Requests per client address are limited on the API: what a client sees over the limit is a 429 problem+json with
 * Retry-After, per address; wrong admin credentials count like any request, valid ones do not.
 */
import t, { type Test } from "tap";
import { Writable } from "node:stream";
import { buildApiApp, type ApiAppParams } from "../../../src/api/app.js";
import { createMetrics } from "../../../src/api/metrics.js";
import { rateLimitedError } from "../../../src/api/rate-limit.js";
import { createLogger } from "../../../src/log.js";
import { FakeControlPlane } from "./fake-control-plane.js";

const TOKEN = "test-admin-token-0123456789abcdef";
const A = "192.0.2.10";
const B = "192.0.2.11";

async function setup(t: Test, overrides: Partial<ApiAppParams> = {}) {
  const cp = new FakeControlPlane();
  const destination = new Writable({ write: (_c, _e, cb) => cb() });
  const app = await buildApiApp({
    controlPlane: cp,
    metrics: createMetrics({ processMetrics: false }),
    logger: createLogger({ level: "info", pretty: false, destination }),
    adminToken: TOKEN,
    rateLimit: { max: 3, windowMs: 60_000 },
    ...overrides,
  });
  t.teardown(() => app.close());
  return { app, cp };
}

t.test("over the limit: 429 problem+json with Retry-After, for that address only", async (t) => {
  const { app, cp } = await setup(t);
  for (let i = 1; i <= 3; i++) {
    const r = await app.inject({ method: "GET", url: "/v1/services", remoteAddress: A });
    t.equal(r.statusCode, 200, `request ${i} of 3 answered`);
    t.equal(r.headers["x-ratelimit-remaining"], String(3 - i), "the client sees what is left");
  }
  const calls = cp.calls.length;
  const over = await app.inject({ method: "GET", url: "/v1/services", remoteAddress: A });
  t.equal(over.statusCode, 429, "the 4th request within the window is refused");
  t.match(over.headers["content-type"], /^application\/problem\+json/);
  const retryAfter = Number(over.headers["retry-after"]);
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After in whole seconds within the window (${over.headers["retry-after"]})`);
  t.match(over.json(), { status: 429, title: "Too Many Requests", code: "rate-limited", instance: "/v1/services", detail: /too many requests from this address \(at most 3 per 1 min\); retry in \d+ s/ });
  t.equal(cp.calls.length, calls, "the refused request did not reach the control plane");
  t.equal((await app.inject({ method: "GET", url: "/v1/ca", remoteAddress: A })).statusCode, 429, "the limit is per address, not per route");
  t.equal((await app.inject({ method: "GET", url: "/v1/nothing", remoteAddress: A })).statusCode, 429, "unknown routes count too");
  t.equal((await app.inject({ method: "GET", url: "/v1/services", remoteAddress: B })).statusCode, 200, "another address is not affected");
});

t.test("wrong admin credentials count; valid ones are not limited", async (t) => {
  const { app, cp } = await setup(t);
  const wrong = { authorization: "Bearer wrong-token-0123456789abcdef" };
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: "POST", url: "/v1/rotate", headers: wrong, remoteAddress: A })).statusCode, 401);
  t.equal((await app.inject({ method: "POST", url: "/v1/rotate", headers: wrong, remoteAddress: A })).statusCode, 429, "guessing is throttled");
  for (let i = 0; i < 5; i++) {
    const r = await app.inject({ method: "POST", url: "/v1/rotate", headers: { authorization: `Bearer ${TOKEN}` }, payload: { dryRun: true }, remoteAddress: A });
    t.equal(r.statusCode, 200, `admin request ${i + 1} from the throttled address goes through`);
  }
  t.equal(cp.mutatingCalls().length, 5);
});

t.test("no limit when none is set (max 0 in the config)", async (t) => {
  const { app } = await setup(t, { rateLimit: null });
  for (let i = 0; i < 10; i++) t.equal((await app.inject({ method: "GET", url: "/v1/services", remoteAddress: A })).statusCode, 200);
});

t.test("the message names the limit and when to come back", async (t) => {
  t.equal(rateLimitedError({ max: 600, windowMs: 60_000, retryAfterSeconds: 17 }).message, "too many requests from this address (at most 600 per 1 min); retry in 17 s");
  t.equal(rateLimitedError({ max: 5, windowMs: 10_000, retryAfterSeconds: 3 }).message, "too many requests from this address (at most 5 per 10 s); retry in 3 s");
  t.equal(rateLimitedError({ max: 5, windowMs: 10_000, retryAfterSeconds: 3 }).code, "rate-limited");
});

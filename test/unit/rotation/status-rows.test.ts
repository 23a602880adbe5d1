/**
 * One status row for `status --json` and `GET /v1/services`: the conversion from what was gathered (a service or a
 * configured identity) to the row both print.
 */
import t from "tap";
import type { GenerationInfo } from "../../../src/rotation/plan.js";
import { statusRow } from "../../../src/rotation/status-rows.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const LEAF = { leaf: { renewBefore: 0.3333, jitter: 0 } } as Parameters<typeof statusRow>[1];
const gen = (generation: number): GenerationInfo => ({
  generation,
  serial: "0a1b",
  fingerprint: "f".repeat(64),
  notBefore: new Date("2029-12-31T12:00:00Z"),
  notAfter: new Date("2030-01-01T12:00:00Z"),
  issuer: "abcdef0123456789abcdef",
  profile: "p",
  complete: true,
});

t.test("a service with its certificate attached: every field filled, no reason", async (t) => {
  const row = statusRow({ service: "stack_api", identity: "api", attached: 2, generations: [gen(1), gen(2)], verdict: { action: "none", reason: "up-to-date", detail: "", nextRenewal: NOW } }, LEAF, NOW);
  t.same(row, {
    identity: "api",
    service: "stack_api",
    generation: 2,
    serial: "0a1b",
    notAfter: "2030-01-01T12:00:00.000Z",
    secondsLeft: 43200,
    nextRotation: "2030-01-01T04:00:02.880Z",
    issuer: "abcdef0123456789",
    state: "ok",
  });
  t.notOk("reason" in row, "no empty reason in the JSON");
});

t.test("nothing attached yet: generation 0 and nulls, state missing, the planner's detail as the reason", async (t) => {
  const row = statusRow({ service: "web", identity: "web", attached: null, generations: [], verdict: { action: "issue", reason: "no-certificate", detail: "no certificate yet" } }, LEAF, NOW);
  t.same(row, { identity: "web", service: "web", generation: 0, serial: null, notAfter: null, secondsLeft: null, nextRotation: null, issuer: null, state: "missing", reason: "no certificate yet" });
});

t.test("labels that name no identity: the row is named by the service, state error, the label's problem as the reason", async (t) => {
  const row = statusRow({ service: "stack_bad", identity: null, attached: null, generations: [], error: "label mtls.key-alg: 'rsa' is not a key algorithm" }, LEAF, NOW);
  t.same(row, { identity: "stack_bad", service: "stack_bad", generation: 0, serial: null, notAfter: null, secondsLeft: null, nextRotation: null, issuer: null, state: "error", reason: "label mtls.key-alg: 'rsa' is not a key algorithm" });
});

t.test("a certificate attached but due: state due with the planner's reason", async (t) => {
  const row = statusRow({ service: "db", identity: "db", attached: 1, generations: [gen(1)], verdict: { action: "issue", reason: "due", detail: "renewal time passed" } }, LEAF, NOW);
  t.match(row, { identity: "db", generation: 1, state: "due", reason: "renewal time passed" });
});

import t from "tap";
import type { ServiceStatus } from "../../../src/rotation/serving-types.js";
import { certificateMetricStates } from "../../../src/rotation/status-rows.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const row = (over: Partial<ServiceStatus>): ServiceStatus => ({
  identity: "api",
  service: "stack_api",
  generation: 1,
  serial: "01",
  notAfter: "2030-01-01T12:00:00.000Z",
  secondsLeft: 43200,
  nextRotation: "2030-01-01T08:00:00.000Z",
  issuer: "ab",
  state: "ok",
  ...over,
});

t.test("Ready is True for a valid attached certificate, due or not", async (t) => {
  const [ok, due] = certificateMetricStates([row({}), row({ identity: "b", state: "due" })], NOW);
  t.same(ok, { identity: "api", state: { notAfter: new Date("2030-01-01T12:00:00Z"), renewAt: new Date("2030-01-01T08:00:00Z"), ready: "True", retryAt: null } });
  t.equal(due?.state.ready, "True", "due for renewal is still a valid certificate (cert-manager keeps Ready while renewing)");
});

t.test("Ready is False when missing or expired, Unknown for invalid labels (a service whose labels name no identity: under its service name)", async (t) => {
  const states = certificateMetricStates(
    [
      row({ identity: "missing", state: "missing", notAfter: null, nextRotation: null }),
      row({ identity: "expired", state: "due", notAfter: "2029-12-31T23:59:59.000Z" }),
      row({ identity: "bad", state: "error", notAfter: null, nextRotation: null }),
      row({ identity: "stack_broken", service: "stack_broken", generation: 0, serial: null, notAfter: null, nextRotation: null, issuer: null, state: "error", reason: "label mtls.key-alg: unknown" }),
    ],
    NOW,
  );
  t.same(
    states.map((s) => [s.identity, s.state.ready, s.state.notAfter === null]),
    [
      ["missing", "False", true],
      ["expired", "False", false],
      ["bad", "Unknown", true],
      ["stack_broken", "Unknown", true],
    ],
  );
});

t.test("a row held back after a failed rollout carries its retry time into the metric state", async (t) => {
  const [held] = certificateMetricStates([row({ state: "missing", notAfter: null, nextRotation: null, retryAt: "2030-01-01T00:30:00.000Z", reason: "held back: …" })], NOW);
  t.same(held?.state.retryAt, new Date("2030-01-01T00:30:00Z"));
});

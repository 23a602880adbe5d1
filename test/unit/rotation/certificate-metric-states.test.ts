import t from "tap";
import { certificateMetricStates, type ServiceStatusRow } from "../../../src/rotation/status-rows.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const row = (over: Partial<ServiceStatusRow>): ServiceStatusRow => ({
  identity: "api",
  service: "stack_api",
  generation: 1,
  serial: "01",
  notAfter: "2030-01-01T12:00:00.000Z",
  secondsLeft: 43200,
  nextRotation: "2030-01-01T08:00:00.000Z",
  issuer: "ab",
  state: "ok",
  reason: "",
  ...over,
});

t.test("Ready is True for a valid attached certificate, due or not", async (t) => {
  const [ok, due] = certificateMetricStates([row({}), row({ identity: "b", state: "due" })], NOW);
  t.same(ok, { identity: "api", state: { notAfter: new Date("2030-01-01T12:00:00Z"), renewAt: new Date("2030-01-01T08:00:00Z"), ready: "True", retryAt: null } });
  t.equal(due?.state.ready, "True", "due for renewal is still a valid certificate (cert-manager keeps Ready while renewing)");
});

t.test("Ready is False when missing or expired, Unknown for invalid labels; rows without identity are left out", async (t) => {
  const states = certificateMetricStates(
    [
      row({ identity: "missing", state: "missing", notAfter: null, nextRotation: null }),
      row({ identity: "expired", state: "due", notAfter: "2029-12-31T23:59:59.000Z" }),
      row({ identity: "bad", state: "error", notAfter: null, nextRotation: null }),
      row({ identity: null, state: "error" }),
    ],
    NOW,
  );
  t.same(
    states.map((s) => [s.identity, s.state.ready, s.state.notAfter === null]),
    [
      ["missing", "False", true],
      ["expired", "False", false],
      ["bad", "Unknown", true],
    ],
  );
});

t.test("a row held back after a failed rollout carries its retry time into the metric state", async (t) => {
  const [held] = certificateMetricStates([row({ state: "missing", notAfter: null, nextRotation: null, retryAt: "2030-01-01T00:30:00.000Z", reason: "held back: …" })], NOW);
  t.same(held?.state.retryAt, new Date("2030-01-01T00:30:00Z"));
});

import t from "tap";
import { statusExitCode } from "../../../src/cli/status.js";
import type { ServiceStatus } from "../../../src/rotation/serving-types.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const row = (over: Partial<ServiceStatus>): ServiceStatus => ({
  identity: "api", service: "api", generation: 1, serial: "01", notAfter: "2030-01-01T12:00:00.000Z", secondsLeft: 43200,
  nextRotation: "2030-01-01T08:00:00.000Z", issuer: "ab", state: "ok", ...over,
});
const LEASE = { owner: "mgr1:42", expiresAt: "2030-01-01T00:02:00.000Z" };

t.test("status exit code: 0 all fine, 1 something is wrong now, 4 due with nothing rotating", async (t) => {
  t.equal(statusExitCode({ services: [], lease: null }, NOW), 0, "nothing managed");
  t.equal(statusExitCode({ services: [row({})], lease: null }, NOW), 0);
  t.equal(statusExitCode({ services: [row({}), row({ state: "due" })], lease: null }, NOW), 4, "due and the lease is free");
  t.equal(statusExitCode({ services: [row({ state: "due" })], lease: LEASE }, NOW), 0, "due while a rotation runs");
  t.equal(statusExitCode({ services: [row({ state: "due", notAfter: "2029-12-31T23:00:00.000Z" })], lease: LEASE }, NOW), 1, "expired, even while rotating");
  t.equal(statusExitCode({ services: [row({ state: "missing", notAfter: null })], lease: null }, NOW), 1, "no certificate");
  t.equal(statusExitCode({ services: [row({ state: "due" }), row({ state: "error", identity: "bad", generation: 0, reason: "label mtls.ttl: not a duration" })], lease: null }, NOW), 1, "invalid labels win over due");
});

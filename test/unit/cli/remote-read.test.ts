/** The pure parts of `status` / `ca show` with --server: API rows as local rows, exit codes without the lease, trust domain of an ID. */
import t from "tap";
import { statusRowFromApi, trustDomainOfSpiffeId } from "../../../src/cli/remote-read.js";
import { parseServer } from "../../../src/cli/rotate-remote.js";
import { showStatus, statusExitCode } from "../../../src/cli/status.js";

t.test("an API status row is the row a local status prints, its time left counted here, now", async (t) => {
  const now = new Date("2026-01-01T00:00:00Z");
  const ok = statusRowFromApi({ identity: "api", service: "shop_api", generation: 3, serial: "ab", notAfter: "2026-01-02T00:00:00Z", secondsLeft: 5, nextRotation: "2026-01-01T16:00:00Z", issuer: "cd", state: "ok" }, now);
  t.same(ok, { identity: "api", service: "shop_api", generation: 3, serial: "ab", notAfter: "2026-01-02T00:00:00Z", secondsLeft: 86400, nextRotation: "2026-01-01T16:00:00Z", issuer: "cd", state: "ok" }, "only secondsLeft is recounted");
  const bad = { identity: "shop_x", service: "shop_x", generation: 0, serial: null, notAfter: null, secondsLeft: null, nextRotation: null, issuer: null, state: "error" as const, reason: "bad label" };
  t.same(statusRowFromApi(bad, now), bad, "a row without a certificate is unchanged (no time left)");
});

t.test("status --server: a due certificate exits 4 (the lease is not published), an expired one 1", async (t) => {
  const now = new Date("2026-01-01T00:00:00Z");
  const row = { identity: "api", service: "api", generation: 1, serial: "ab", notAfter: "2026-01-02T00:00:00Z", secondsLeft: 86400, nextRotation: "2025-12-31T00:00:00Z", issuer: "cd", state: "due" as const };
  t.equal(statusExitCode({ services: [row] }, now), 4);
  t.equal(statusExitCode({ services: [{ ...row, notAfter: "2025-12-31T00:00:00Z" }] }, now), 1);
  t.equal(statusExitCode({ services: [{ ...row, state: "ok" }] }, now), 0);
});

t.test("status --server with nothing listed says so without naming a mode it cannot know", async (t) => {
  t.equal(showStatus({ store: "https://mgr1:8443", services: [], caRotation: null }), "https://mgr1:8443 lists no services or identities");
});

t.test("the trust domain of the API certificate's SPIFFE ID", async (t) => {
  t.equal(trustDomainOfSpiffeId("spiffe://example.org/id/swarm-mtls-api"), "example.org");
  t.equal(trustDomainOfSpiffeId(null), null);
  t.equal(trustDomainOfSpiffeId("https://example.org/"), null);
});

t.test("--server for read-only commands: plain HTTP only to loopback, saying what it would risk", async (t) => {
  const why = "would read the CA's status over the network without TLS";
  t.equal(parseServer("http://127.0.0.1:8443", why).port, "8443");
  t.throws(() => parseServer("http://mgr1:8443", why), /would read the CA's status over the network without TLS; use https:\/\/mgr1:8443/);
  t.throws(() => parseServer("http://mgr1:8443"), /would send the admin token in clear/, "rotate keeps its own words");
});

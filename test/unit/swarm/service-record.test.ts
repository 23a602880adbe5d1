import t from "tap";
import { readServiceRecord } from "../../../src/swarm/service-record.js";
import { rawService, service } from "../../fixtures/swarm/load-fixture.js";

t.test("rich replicated service: labels, replicas, secret and config refs", async (t) => {
  const s = service("rich");
  t.equal(s.name, "fx-rich");
  t.match(s.id, /^[a-z0-9]{25}$/);
  t.equal(s.version, rawService("rich").Version?.Index);
  t.equal(s.mode, "replicated");
  t.equal(s.replicas, 2);
  t.same(s.labels, { "mtls.dns": "api.local", "mtls.enable": "true" });
  t.same(s.secretRefs.map((r) => [r.SecretName, r.File?.Name, r.File?.UID, r.File?.Mode]).sort(), [
    ["fx.api.crt.v1", "tls.crt", "0", 0o444],
    ["fx.api.key.v1", "tls.key", "101", 0o400],
    ["fx.bundle.v1", "ca.crt", "0", 0o444],
    ["fx.other.db-password", "fx.other.db-password", "0", 0o444],
  ]);
  t.same(s.configRefs.map((r) => [r.ConfigName, r.File?.Name]), [["fx.app.conf", "/etc/app.conf"]]);
  t.equal(s.updateStatus, undefined, "a never-updated service has no UpdateStatus");
  t.ok(s.createdAt instanceof Date);
  t.same(s.spec, rawService("rich").Spec, "raw spec kept unchanged");
});

t.test("global service has no replicas", async (t) => {
  const s = service("global");
  t.equal(s.mode, "global");
  t.equal(s.replicas, undefined);
});

t.test("plain service: no secrets, default one replica", async (t) => {
  const s = service("plain");
  t.same(s.secretRefs, []);
  t.same(s.configRefs, []);
  t.equal(s.replicas, 1);
  t.same(s.labels, {});
});

t.test("update status and previous spec after updates", async (t) => {
  const done = service("rich-updated");
  t.equal(done.updateStatus?.state, "completed");
  t.ok(done.updateStatus?.completedAt instanceof Date);
  t.ok(done.previousSpec, "previous spec kept");
  const rb = service("rollback");
  t.equal(rb.updateStatus?.state, "rollback_completed");
  t.equal(rb.updateStatus?.message, "rollback completed");
  t.equal(service("paused").updateStatus?.state, "paused");
  t.equal(service("hostport-stuck").updateStatus?.state, "updating");
  t.equal(service("hostport-stuck").updateStatus?.completedAt, undefined, "zero time reads as absent");
});

t.test("job modes and missing fields", async (t) => {
  t.equal(readServiceRecord({ ID: "x", Spec: { Mode: { ReplicatedJob: {} } } }).mode, "replicated-job");
  t.equal(readServiceRecord({ ID: "x", Spec: { Mode: { GlobalJob: {} } } }).mode, "global-job");
  const bare = readServiceRecord({ ID: "abc" });
  t.equal(bare.name, "abc");
  t.equal(bare.version, 0);
  t.equal(bare.mode, "replicated");
  t.equal(bare.replicas, 1);
});

import t from "tap";
import { createMetrics, METRIC_NAMES } from "../../../src/api/metrics.js";

const NOW = Date.parse("2030-01-01T00:00:00Z");

t.test("expiry gauges are computed at scrape time from the clock", async (t) => {
  let now = NOW;
  const m = createMetrics({ processMetrics: false, now: () => now });
  m.setLeafExpiry("stack_api", new Date(NOW + 7200_000));
  m.setCaExpiry("root", "aa", new Date(NOW + 86400_000));
  t.match(await m.registry.metrics(), `${METRIC_NAMES.leafExpiry}{identity="stack_api"} 7200`);
  now += 3600_000;
  const text = await m.registry.metrics();
  t.match(text, `${METRIC_NAMES.leafExpiry}{identity="stack_api"} 3600`);
  t.match(text, `${METRIC_NAMES.caExpiry}{role="root",fingerprint="aa"} 82800`);
  now += 7200_000;
  t.match(await m.registry.metrics(), `${METRIC_NAMES.leafExpiry}{identity="stack_api"} -3600`, "negative once expired");
});

t.test("forgetting an identity removes its series; setCaExpiries replaces the CA set", async (t) => {
  const m = createMetrics({ processMetrics: false, now: () => NOW });
  m.setLeafExpiry("a", new Date(NOW + 1000));
  m.setLeafExpiry("b", new Date(NOW + 2000));
  m.setLeafExpiry("a", null);
  const text = await m.registry.metrics();
  t.notMatch(text, 'identity="a"');
  t.match(text, `${METRIC_NAMES.leafExpiry}{identity="b"} 2`);
  m.setCaExpiry("intermediate", "old", new Date(NOW + 1000));
  m.setCaExpiries([{ role: "intermediate", fingerprint: "new", notAfter: new Date(NOW + 5000) }]);
  const after = await m.registry.metrics();
  t.notMatch(after, 'fingerprint="old"');
  t.match(after, `${METRIC_NAMES.caExpiry}{role="intermediate",fingerprint="new"} 5`);
});

t.test("counters, histogram and last reconcile time", async (t) => {
  const m = createMetrics({ processMetrics: false });
  m.certificatesIssued("ed25519");
  m.certificatesIssued("ed25519");
  m.certificatesIssued("rsa-2048");
  m.rotation("rotated", 12);
  m.rotation("failed", 3);
  m.rotation("skipped");
  m.reconcileSucceeded(new Date(NOW));
  const text = await m.registry.metrics();
  t.match(text, `${METRIC_NAMES.certificatesIssued}{algorithm="ed25519"} 2`);
  t.match(text, `${METRIC_NAMES.certificatesIssued}{algorithm="rsa-2048"} 1`);
  t.match(text, `${METRIC_NAMES.rotations}{result="skipped"} 1`);
  t.match(text, `${METRIC_NAMES.rotationDuration}_bucket{le="20",result="rotated"} 1`);
  t.match(text, `${METRIC_NAMES.rotationDuration}_sum{result="failed"} 3`);
  t.notMatch(text, `${METRIC_NAMES.rotationDuration}_count{result="skipped"}`, "no duration, no observation");
  t.match(text, `${METRIC_NAMES.lastReconcile} ${NOW / 1000}`);
});

t.test("every series is prefixed swarm_mtls_, process metrics included by default", async (t) => {
  const m = createMetrics();
  const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
  t.ok(names.length > Object.keys(METRIC_NAMES).length);
  t.same(names.filter((n) => !n.startsWith("swarm_mtls_")), []);
  t.ok(names.includes("swarm_mtls_process_cpu_seconds_total"));
});

t.test("keepLeafExpiries drops the series of identities no longer listed (services gone)", async (t) => {
  const m = createMetrics({ processMetrics: false, now: () => NOW });
  m.setLeafExpiry("kept", new Date(NOW + 1000));
  m.setLeafExpiry("gone", new Date(NOW + 2000));
  t.match(await m.registry.metrics(), 'identity="gone"');
  m.keepLeafExpiries(["kept"]);
  const text = await m.registry.metrics();
  t.notMatch(text, 'identity="gone"', "the removed service's gauge is gone");
  t.match(text, `${METRIC_NAMES.leafExpiry}{identity="kept"} 1`);
  m.keepLeafExpiries([]);
  t.notMatch(await m.registry.metrics(), 'identity="kept"');
});

t.test("cert-manager shaped series: expiration, renewal, ready status per identity, CA expiration", async (t) => {
  const m = createMetrics({ processMetrics: false, now: () => NOW });
  m.setCertificate("api", { notAfter: new Date(NOW + 7200_000), renewAt: new Date(NOW + 3600_000), ready: "True" });
  m.setCertificate("db", { notAfter: null, renewAt: null, ready: "False" });
  m.setCaExpiry("root", "aa", new Date(NOW + 86400_000));
  const text = await m.registry.metrics();
  t.match(text, `${METRIC_NAMES.certificateExpiration}{name="api"} ${NOW / 1000 + 7200}`);
  t.match(text, `${METRIC_NAMES.certificateRenewal}{name="api"} ${NOW / 1000 + 3600}`);
  t.match(text, `${METRIC_NAMES.certificateReady}{name="api",condition="True"} 1`);
  t.match(text, `${METRIC_NAMES.certificateReady}{name="api",condition="False"} 0`);
  t.match(text, `${METRIC_NAMES.certificateReady}{name="api",condition="Unknown"} 0`);
  t.match(text, `${METRIC_NAMES.certificateReady}{name="db",condition="False"} 1`);
  t.notMatch(text, `${METRIC_NAMES.certificateExpiration}{name="db"}`, "no certificate, no expiration series");
  t.match(text, `${METRIC_NAMES.caExpiration}{role="root",fingerprint="aa"} ${NOW / 1000 + 86400}`);
  t.match(text, `${METRIC_NAMES.leafExpiry}{identity="api"} 7200`, "the deprecated gauge is still there");
  m.keepLeafExpiries(["db"]);
  t.notMatch(await m.registry.metrics(), 'name="api"', "a forgotten identity loses every series");
});

t.test("setLeafExpiry keeps the renewal time and says Ready=False once expired", async (t) => {
  const m = createMetrics({ processMetrics: false, now: () => NOW });
  m.setCertificate("api", { notAfter: new Date(NOW + 1000), renewAt: new Date(NOW + 500), ready: "True" });
  m.setLeafExpiry("api", new Date(NOW - 1000));
  const text = await m.registry.metrics();
  t.match(text, `${METRIC_NAMES.certificateRenewal}{name="api"} ${NOW / 1000 + 0.5}`);
  t.match(text, `${METRIC_NAMES.certificateReady}{name="api",condition="False"} 1`);
});

t.test("rotation failures are counted per identity; other results are not", async (t) => {
  const m = createMetrics({ processMetrics: false });
  m.rotation("failed", 2, "api");
  m.rotation("failed", undefined, "api");
  m.rotation("rotated", 1, "api");
  m.rotation("failed");
  const text = await m.registry.metrics();
  t.match(text, `${METRIC_NAMES.rotationFailures}{name="api"} 2`);
  t.match(text, `${METRIC_NAMES.rotations}{result="failed"} 3`);
});

t.test("reconcile results; the lease-blocked time is the first of a run of lease-held reconciles", async (t) => {
  const m = createMetrics({ processMetrics: false });
  const at = (min: number) => new Date(NOW + min * 60_000);
  t.match(await m.registry.metrics(), `${METRIC_NAMES.leaseBlockedSince} 0`);
  m.reconcileFinished("ok", at(0));
  m.reconcileFinished("lease-held", at(5));
  m.reconcileFinished("lease-held", at(10));
  let text = await m.registry.metrics();
  t.match(text, `${METRIC_NAMES.leaseBlockedSince} ${NOW / 1000 + 300}`);
  t.match(text, `${METRIC_NAMES.reconciles}{result="lease-held"} 2`);
  t.match(text, `${METRIC_NAMES.lastReconcile} ${NOW / 1000}`);
  m.reconcileFinished("failed", at(15));
  text = await m.registry.metrics();
  t.match(text, `${METRIC_NAMES.leaseBlockedSince} 0`, "a reconcile that got the lease ends the run");
  t.match(text, `${METRIC_NAMES.lastReconcile} ${NOW / 1000}`, "a failed reconcile is not a success");
  m.reconcileFinished("lease-held", at(20));
  t.match(await m.registry.metrics(), `${METRIC_NAMES.leaseBlockedSince} ${NOW / 1000 + 1200}`);
});

t.test("the failure counter of a known identity starts at 0 and goes with the identity", async (t) => {
  const m = createMetrics({ processMetrics: false, now: () => NOW });
  m.setCertificate("api", { notAfter: null, renewAt: null, ready: "False" });
  t.match(await m.registry.metrics(), `${METRIC_NAMES.rotationFailures}{name="api"} 0`);
  m.rotation("failed", 1, "api");
  t.match(await m.registry.metrics(), `${METRIC_NAMES.rotationFailures}{name="api"} 1`);
  m.setCertificate("api", null);
  t.notMatch(await m.registry.metrics(), 'name="api"');
});

t.test("the rollout retry gauge: the backoff's retry time while an identity's failed rollout waits, no series otherwise", async (t) => {
  const m = createMetrics({ processMetrics: false, now: () => NOW });
  m.setCertificate("api", { notAfter: null, renewAt: null, ready: "False", retryAt: new Date(NOW + 60_000) });
  m.setCertificate("db", { notAfter: new Date(NOW + 7200_000), renewAt: null, ready: "True", retryAt: null });
  const text = await m.registry.metrics();
  t.match(text, `${METRIC_NAMES.rolloutRetry}{name="api"} ${(NOW + 60_000) / 1000}`);
  t.notMatch(text, `${METRIC_NAMES.rolloutRetry}{name="db"}`, "not held back: no series");
  m.setCertificate("api", { notAfter: new Date(NOW + 7200_000), renewAt: null, ready: "True", retryAt: null });
  t.notMatch(await m.registry.metrics(), `${METRIC_NAMES.rolloutRetry}{name="api"}`, "gone once the rollout worked");
});

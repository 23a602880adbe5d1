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

import t, { type Test } from "tap";
import { Writable } from "node:stream";
import { buildApiApp } from "../../../src/api/app.js";
import type { CaRotationView } from "../../../src/api/control-plane.js";
import { createMetrics } from "../../../src/api/metrics.js";
import { createLogger } from "../../../src/log.js";
import { FakeControlPlane } from "./fake-control-plane.js";

const ROTATION: CaRotationView = {
  id: "20300101-abcdef",
  kind: "root",
  phase: "trusted",
  next: "issue",
  startedAt: "2030-01-01T00:00:00.000Z",
  history: [{ phase: "prepared", at: "2030-01-01T00:00:00.000Z" }, { phase: "trusted", at: "2030-01-01T00:05:00.000Z" }],
  fingerprints: { oldIntermediate: "11".repeat(32), newIntermediate: "22".repeat(32), oldRoot: "33".repeat(32), newRoot: "44".repeat(32), cross: "55".repeat(32) },
  progress: { total: 2, onCurrentBundle: 2, onNewIntermediate: 0, pending: ["stack_api", "stack_db"] },
  retired: 0,
};

class RotatingControlPlane extends FakeControlPlane {
  rotation: CaRotationView | null = ROTATION;
  caRotation() {
    return Promise.resolve(this.rotation);
  }
}

async function app(t: Test, cp: FakeControlPlane) {
  const a = await buildApiApp({
    controlPlane: cp,
    metrics: createMetrics({ processMetrics: false }),
    logger: createLogger({ level: "silent", pretty: false, destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
    adminToken: "test-admin-token-0123456789abcdef",
  });
  t.teardown(() => a.close());
  return a;
}

t.test("GET /v1/ca shows a CA rotation in progress next to the certificates", async (t) => {
  const a = await app(t, new RotatingControlPlane());
  const r = await a.inject("/v1/ca");
  t.equal(r.statusCode, 200);
  const body = r.json();
  t.match(body.certificates, [{ role: "root" }], "certificates unchanged");
  t.same(body.rotation, ROTATION, "phase, next step, fingerprints and services done / total");
});

t.test("GET /v1/ca without a rotation keeps returning only {certificates}", async (t) => {
  const cp = new RotatingControlPlane();
  cp.rotation = null;
  const r = await (await app(t, cp)).inject("/v1/ca");
  t.equal(r.statusCode, 200);
  t.same(Object.keys(r.json()), ["certificates"]);
  const plain = await (await app(t, new FakeControlPlane())).inject("/v1/ca");
  t.same(Object.keys(plain.json()), ["certificates"], "a control plane without caRotation: no rotation field");
});

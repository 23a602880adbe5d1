/**
 * Backoff after a failed rollout, decided on plain data with the clock as a parameter: 1 minute doubling to 30
 * minutes, forgotten when the operator changes the service, overridden by --force.
 */
import t from "tap";
import { backoffAfterFailure, operatorSpecHash, rolloutBackoffs, rolloutHeldBack } from "../../../src/rotation/rollout-backoff.js";
import type { ServiceRecord } from "../../../src/swarm/swarm.js";

const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1) + s * 1000);
const service = (spec: unknown, id = "svc1"): ServiceRecord => ({ id, name: "api", version: 1, labels: {}, spec, mode: "replicated", secretRefs: [], configRefs: [] }) as unknown as ServiceRecord;
const spec = (p: { image?: string; secrets?: string[]; order?: string } = {}) => ({
  Name: "api",
  Labels: { "mtls.enable": "true" },
  TaskTemplate: { ContainerSpec: { Image: p.image ?? "busybox", Secrets: (p.secrets ?? []).map((n) => ({ SecretName: n })) } },
  UpdateConfig: { Parallelism: 1, Order: p.order ?? "start-first" },
});

t.test("the retry time: 1m after the first failure, doubling, at most 30m", async (t) => {
  let b = backoffAfterFailure(undefined, { now: at(0), specHash: "h", error: "task exited" });
  t.same(b, { failures: 1, retryAt: at(60), specHash: "h", error: "task exited" });
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    b = backoffAfterFailure(b, { now: at(0), specHash: "h", error: "task exited" });
    delays.push((b.retryAt.getTime() - at(0).getTime()) / 1000);
  }
  t.same(delays, [120, 240, 480, 960, 1800, 1800, 1800], "doubles, then stays at 30m");
  t.equal(backoffAfterFailure(b, { now: at(0), specHash: "other", error: "x" }).failures, 1, "a failure after the operator changed the service starts again at 1m");
});

t.test("held back until the retry time, unless forced or the operator changed the service", async (t) => {
  const b = backoffAfterFailure(undefined, { now: at(0), specHash: "h", error: "task exited" });
  t.equal(rolloutHeldBack(undefined, { now: at(0), specHash: "h", force: false }), null, "nothing failed: go ahead");
  t.match(rolloutHeldBack(b, { now: at(2), specHash: "h", force: false }), /^not retried before 2026-01-01T00:01:00\.000Z \(in 58s\): its last rollout failed once \(task exited\); change the service or rotate it with --force to retry now$/, "the rollback's own event 2 s later does not retry");
  t.equal(rolloutHeldBack(b, { now: at(60), specHash: "h", force: false }), null, "at the retry time: go ahead");
  t.equal(rolloutHeldBack(b, { now: at(2), specHash: "h", force: true }), null, "--force overrides");
  t.equal(rolloutHeldBack(b, { now: at(2), specHash: "changed", force: false }), null, "the operator changed the service: go ahead");
});

t.test("the operator's spec: what this tool's rollout and its rollback change does not count", async (t) => {
  const before = operatorSpecHash(service(spec({ secrets: ["mtls.api.crt.v1"] })));
  t.equal(operatorSpecHash(service(spec({ secrets: ["mtls.api.crt.v2", "mtls.bundle.v3"], order: "stop-first" }))), before, "other secret references and update order: same");
  t.not(operatorSpecHash(service(spec({ image: "busybox:1.36", secrets: ["mtls.api.crt.v1"] }))), before, "a new image: changed");
  const reordered = { UpdateConfig: { Order: "start-first", Parallelism: 1 }, TaskTemplate: { ContainerSpec: { Secrets: [], Image: "busybox" } }, Labels: { "mtls.enable": "true" }, Name: "api" };
  t.equal(operatorSpecHash(service(reordered)), before, "key order does not matter");
});

t.test("serve's memory: a failure holds the service back, a success or a change forgets it", async (t) => {
  const mem = rolloutBackoffs();
  const s = service(spec());
  t.equal(mem.heldBack(s, at(0), false), null);
  t.same(mem.failed(s, "task exited", at(0)), at(60));
  t.match(mem.heldBack(s, at(30), false), /not retried before/);
  t.equal(mem.heldBack(service(spec(), "other"), at(30), false), null, "other services are not held");
  t.same(mem.failed(s, "task exited", at(60)), at(180), "second failure in a row: 2m");
  t.equal(mem.heldBack(service(spec({ image: "fixed" })), at(61), false), null, "the operator changed the service");
  mem.succeeded(s);
  t.equal(mem.heldBack(s, at(61), false), null, "a success forgets it");
  t.same(mem.failed(s, "again", at(100)), at(160), "and the next failure starts at 1m again");
});

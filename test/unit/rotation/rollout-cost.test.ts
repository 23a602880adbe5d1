import t from "tap";
import { rolloutCost, rolloutLanes, SPEC_ONLY_CONCURRENCY } from "../../../src/rotation/rollout-cost.js";
import type { ServiceSpec } from "../../../src/swarm/docker-types.js";

const replicated = (n: number | undefined): ServiceSpec => ({ Name: `r${n}`, Mode: { Replicated: n === undefined ? {} : { Replicas: n } } });

t.test("only a replicated service that wants no task is spec-only", async (t) => {
  t.equal(rolloutCost(replicated(0)), "spec-only");
  t.equal(rolloutCost(replicated(1)), "tasks");
  t.equal(rolloutCost(replicated(undefined)), "tasks", "replicas left out means the engine's default of 1");
  t.equal(rolloutCost({ Name: "g", Mode: { Global: {} } }), "tasks");
  t.equal(rolloutCost({ Name: "j", Mode: { ReplicatedJob: { TotalCompletions: 0 } } }), "tasks");
  t.equal(rolloutCost({ Name: "none" }), "tasks", "no mode is a replicated service with 1 replica");
});

t.test("rollouts with tasks keep the operator's cap; spec-only ones get a wider lane beside them", async (t) => {
  const specs = [replicated(0), replicated(2), replicated(0), { Name: "g", Mode: { Global: {} } }, replicated(0)];
  const lanes = rolloutLanes(specs, (s) => s, 4);
  t.same(lanes.map((l) => [l.cost, l.items.map((s) => s.Name), l.concurrency]), [
    ["tasks", ["r2", "g"], 4],
    ["spec-only", ["r0", "r0", "r0"], SPEC_ONLY_CONCURRENCY],
  ]);
});

t.test("a cap above the spec-only floor applies to both lanes; a cap below 1 counts as 1", async (t) => {
  t.same(rolloutLanes([replicated(0), replicated(1)], (s) => s, 64).map((l) => l.concurrency), [64, 64]);
  t.same(rolloutLanes([replicated(1)], (s) => s, 0).map((l) => l.concurrency), [1]);
});

t.test("empty lanes are left out", async (t) => {
  t.same(rolloutLanes([replicated(0)], (s) => s, 4).map((l) => l.cost), ["spec-only"]);
  t.same(rolloutLanes([replicated(3)], (s) => s, 4).map((l) => l.cost), ["tasks"]);
  t.same(rolloutLanes([], (s: ServiceSpec) => s, 4), []);
});

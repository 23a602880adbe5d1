import t from "tap";
import { rolloutDeadlineMs } from "../../../src/swarm/rollout-deadline.js";
import { rawService } from "../../fixtures/swarm/load-fixture.js";

const s = 1e9; // ns per second

t.test("engine defaults: one batch of stop grace 10s + start 20s + monitor 5s", async (t) => {
  t.equal(rolloutDeadlineMs({}), 35_000);
});

t.test("batches follow replicas / parallelism; delay and monitor per batch", async (t) => {
  const spec = {
    Mode: { Replicated: { Replicas: 6 } },
    UpdateConfig: { Parallelism: 2, Delay: 10 * s, Monitor: 5 * s },
    TaskTemplate: { ContainerSpec: { StopGracePeriod: 1 * s } },
  };
  t.equal(rolloutDeadlineMs(spec), 3 * (1_000 + 20_000 + 5_000 + 10_000));
  t.equal(rolloutDeadlineMs({ ...spec, UpdateConfig: { ...spec.UpdateConfig, Parallelism: 0 } }), 36_000, "parallelism 0 = one batch");
});

t.test("healthcheck adds start period + interval × retries", async (t) => {
  const base = { TaskTemplate: { ContainerSpec: { StopGracePeriod: 0, Healthcheck: { Test: ["CMD", "true"], Interval: 10 * s, Retries: 3, StartPeriod: 5 * s } } }, UpdateConfig: { Monitor: 0 } };
  t.equal(rolloutDeadlineMs(base), 20_000 + 35_000);
  const none = { ...base, TaskTemplate: { ContainerSpec: { StopGracePeriod: 0, Healthcheck: { Test: ["NONE"] } } } };
  t.equal(rolloutDeadlineMs(none, { floorMs: 0 }), 20_000);
});

t.test("global services scale with the node count", async (t) => {
  t.equal(rolloutDeadlineMs({ Mode: { Global: {} } }, { nodeCount: 3 }), 3 * 35_000);
});

t.test("floor and cap", async (t) => {
  const fast = rawService("plain").Spec ?? {};
  t.equal(rolloutDeadlineMs(fast, { taskStartMs: 1_000 }), 30_000, "captured busybox service: floor");
  t.equal(rolloutDeadlineMs(fast, { taskStartMs: 1_000, floorMs: 0 }), 1_000 + 1_000 + 1_000, "grace 1s + start + monitor 1s");
  t.equal(rolloutDeadlineMs({ Mode: { Replicated: { Replicas: 1000 } } }), 900_000);
  t.equal(rolloutDeadlineMs({ Mode: { Replicated: { Replicas: 1000 } } }, { capMs: 60_000 }), 60_000);
});

t.test("captured rich service: 2 replicas one by one with a healthcheck", async (t) => {
  // grace 1s + start 20s + health 2s×3 + monitor 1s, twice
  t.equal(rolloutDeadlineMs(rawService("rich").Spec ?? {}), 2 * (1_000 + 20_000 + 6_000 + 1_000));
});

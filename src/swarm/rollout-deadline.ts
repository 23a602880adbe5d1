import type { ServiceSpec } from "./docker-types.js";

export interface RolloutDeadlineParams {
  /** Tasks of a global service (one per eligible node). Default 1. */
  nodeCount?: number;
  /** Time allowed for one task to be scheduled, created and started, in ms. Default 20 000. */
  taskStartMs?: number;
  /** Shortest deadline, ms. Default 30 000. */
  floorMs?: number;
  /** Longest deadline, ms. Default 900 000 (15 min). */
  capMs?: number;
}

const NS_PER_MS = 1e6;
/** Engine defaults (docker/swarmkit): update parallelism 1, delay 0, monitor 5 s, stop grace 10 s, health retries 3. */
const DEFAULT_MONITOR_MS = 5_000;
const DEFAULT_STOP_GRACE_MS = 10_000;

/**
 * How long a rollout of `spec` may reasonably take, from its UpdateConfig: batches = ceil(tasks / parallelism), each
 * batch costing stop grace + task start + health checks + monitor + delay; bounded by a floor and a cap. Pure.
 */
export function rolloutDeadlineMs(spec: ServiceSpec, p: RolloutDeadlineParams = {}): number {
  const floor = p.floorMs ?? 30_000;
  const cap = p.capMs ?? 900_000;
  const taskStart = p.taskStartMs ?? 20_000;
  const uc = spec.UpdateConfig ?? {};
  const mode = spec.Mode ?? {};
  const tasks = mode.Global || mode.GlobalJob ? Math.max(1, p.nodeCount ?? 1) : Math.max(1, mode.Replicated?.Replicas ?? 1);
  const parallelism = uc.Parallelism ?? 1;
  const batches = parallelism <= 0 ? 1 : Math.ceil(tasks / parallelism);
  const monitor = uc.Monitor !== undefined ? uc.Monitor / NS_PER_MS : DEFAULT_MONITOR_MS;
  const delay = (uc.Delay ?? 0) / NS_PER_MS;
  const cs = spec.TaskTemplate?.ContainerSpec;
  const stopGrace = cs?.StopGracePeriod !== undefined ? cs.StopGracePeriod / NS_PER_MS : DEFAULT_STOP_GRACE_MS;
  const hc = cs?.Healthcheck;
  const healthy =
    hc && hc.Test && hc.Test[0] !== "NONE"
      ? ((hc.StartPeriod ?? 0) + (hc.Interval ?? 30e9) * ((hc.Retries ?? 3) || 3)) / NS_PER_MS
      : 0;
  const perBatch = stopGrace + taskStart + healthy + monitor + delay;
  const total = Math.ceil(batches * perBatch);
  return Math.min(cap, Math.max(floor, total));
}

/**
 * How long a new task must run before swarm-mtls believes it: the service's UpdateConfig.Monitor (Swarm's own
 * "watch for a failure" window, engine default 5 s), bounded to 1–30 s. Pure.
 */
export function rolloutSettleMs(spec: ServiceSpec): number {
  const monitor = spec.UpdateConfig?.Monitor !== undefined ? spec.UpdateConfig.Monitor / NS_PER_MS : DEFAULT_MONITOR_MS;
  return Math.min(30_000, Math.max(1_000, monitor));
}

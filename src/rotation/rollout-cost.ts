/**
 * What a service's rollout costs the swarm, and how many rollouts of each cost run at once. Containers are the cost,
 * not spec writes: a service whose spec wants no task (replicated, `replicas: 0`) is rotated by one spec update that
 * restarts nothing, so it neither needs a convergence watch nor a place under the cap meant for task restarts.
 */
import type { ServiceSpec } from "../swarm/docker-types.js";

/** "tasks": the update replaces running tasks (watched until they converge); "spec-only": no task to replace. */
export type RolloutCost = "tasks" | "spec-only";

/** Spec-only rollouts run at least this many at once (about what the engine takes in flight without queueing). */
export const SPEC_ONLY_CONCURRENCY = 16;

/**
 * The cost of rolling `spec` out. Only a replicated service with `replicas: 0` is spec-only: a global service's
 * task count depends on the nodes, and a job's tasks run on their own schedule. Pure.
 */
export function rolloutCost(spec: ServiceSpec): RolloutCost {
  const replicas = spec.Mode?.Replicated?.Replicas;
  return replicas === 0 ? "spec-only" : "tasks";
}

/** One lane of a reconcile's rollouts: its items and how many of them run at once. */
export interface RolloutLane<T> {
  cost: RolloutCost;
  items: T[];
  concurrency: number;
}

/**
 * Splits a reconcile's rollouts into lanes by cost, keeping their order: rollouts with tasks under the operator's
 * concurrency cap, spec-only ones under max(cap, SPEC_ONLY_CONCURRENCY), both lanes running side by side. Empty
 * lanes are left out. Pure.
 */
export function rolloutLanes<T>(items: readonly T[], specOf: (item: T) => ServiceSpec, concurrency: number): RolloutLane<T>[] {
  const cap = Math.max(1, Math.floor(concurrency));
  const withTasks: T[] = [];
  const specOnly: T[] = [];
  for (const item of items) (rolloutCost(specOf(item)) === "spec-only" ? specOnly : withTasks).push(item);
  const lanes: RolloutLane<T>[] = [
    { cost: "tasks", items: withTasks, concurrency: cap },
    { cost: "spec-only", items: specOnly, concurrency: Math.max(cap, SPEC_ONLY_CONCURRENCY) },
  ];
  return lanes.filter((l) => l.items.length > 0);
}

import type { ServiceSpec } from "./docker-types.js";

/**
 * True when a rollout can never finish: `start-first` needs old and new task side by side, but a port published in
 * `host` mode can be bound by only one of them per node, so the new task stays pending
 * ("host-mode port already in use"). Pure.
 */
export function startFirstWithHostPorts(spec: ServiceSpec): boolean {
  const startFirst = spec.UpdateConfig?.Order === "start-first";
  const hostPort = (spec.EndpointSpec?.Ports ?? []).some((p) => p.PublishMode === "host" && (p.PublishedPort ?? 0) > 0);
  return startFirst && hostPort;
}

/**
 * A copy of `spec` whose updates stop the old task before starting the new one. Nothing else changes; a spec without
 * UpdateConfig is returned as is (stop-first is already the engine's default, and a partial UpdateConfig would reset
 * Parallelism to 0 = all tasks at once). Pure.
 */
export function withStopFirstUpdates(spec: ServiceSpec): ServiceSpec {
  const next = structuredClone(spec);
  if (next.UpdateConfig && next.UpdateConfig.Order !== "stop-first") next.UpdateConfig.Order = "stop-first";
  return next;
}

/**
 * A copy of `spec` with `TaskTemplate.ForceUpdate` incremented (what `docker service update --force` sends): every
 * task is replaced even if its spec is unchanged. This is how a task left pending by the scheduler is unstuck — after a
 * start-first + host-port rollout was switched to stop-first, the engine reports `completed` while the new task stays
 * pending forever. Pure.
 */
export function withForcedUpdate(spec: ServiceSpec): ServiceSpec {
  const next = structuredClone(spec);
  next.TaskTemplate = next.TaskTemplate ?? {};
  next.TaskTemplate.ForceUpdate = (next.TaskTemplate.ForceUpdate ?? 0) + 1;
  return next;
}

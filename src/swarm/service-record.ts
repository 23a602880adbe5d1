import type { DockerService, ServiceSpec } from "./docker-types.js";
import type { ServiceModeName, ServiceRecord } from "./swarm.js";

/** Docker's zero time (`0001-01-01T00:00:00Z`) and missing values read as undefined. */
export function parseDockerTime(s: string | undefined): Date | undefined {
  if (!s || s.startsWith("0001-01-01")) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function serviceMode(spec: ServiceSpec): ServiceModeName {
  const m = spec.Mode ?? {};
  if (m.Global) return "global";
  if (m.ReplicatedJob) return "replicated-job";
  if (m.GlobalJob) return "global-job";
  return "replicated";
}

/** Reads one element of `docker service inspect` / GET /services into a record. Pure. */
export function readServiceRecord(json: DockerService): ServiceRecord {
  const spec: ServiceSpec = json.Spec ?? {};
  const mode = serviceMode(spec);
  const cs = spec.TaskTemplate?.ContainerSpec;
  const us = json.UpdateStatus;
  const createdAt = parseDockerTime(json.CreatedAt);
  const updatedAt = parseDockerTime(json.UpdatedAt);
  const record: ServiceRecord = {
    id: json.ID,
    name: spec.Name ?? json.ID,
    version: json.Version?.Index ?? 0,
    labels: { ...(spec.Labels ?? {}) },
    spec,
    mode,
    secretRefs: cs?.Secrets ?? [],
    configRefs: cs?.Configs ?? [],
  };
  if (json.PreviousSpec) record.previousSpec = json.PreviousSpec;
  if (mode === "replicated") record.replicas = spec.Mode?.Replicated?.Replicas ?? 1;
  if (us) {
    const startedAt = parseDockerTime(us.StartedAt);
    const completedAt = parseDockerTime(us.CompletedAt);
    record.updateStatus = {
      ...(us.State ? { state: us.State } : {}),
      ...(startedAt ? { startedAt } : {}),
      ...(completedAt ? { completedAt } : {}),
      ...(us.Message ? { message: us.Message } : {}),
    };
  }
  if (createdAt) record.createdAt = createdAt;
  if (updatedAt) record.updatedAt = updatedAt;
  return record;
}

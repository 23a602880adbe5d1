import type { DockerConfig, DockerNetwork, DockerSecret } from "./docker-types.js";
import type { ConfigRecord, NetworkRecord, SecretRecord } from "./swarm.js";
import { parseDockerTime } from "./service-record.js";

/** Reads one element of GET /secrets. */
export function readSecretRecord(json: DockerSecret): SecretRecord {
  const createdAt = parseDockerTime(json.CreatedAt);
  return {
    id: json.ID,
    name: json.Spec?.Name ?? "",
    labels: { ...(json.Spec?.Labels ?? {}) },
    version: json.Version?.Index ?? 0,
    ...(createdAt ? { createdAt } : {}),
  };
}

/** Reads one element of GET /configs, decoding `Spec.Data` (base64). */
export function readConfigRecord(json: DockerConfig): ConfigRecord {
  const createdAt = parseDockerTime(json.CreatedAt);
  return {
    id: json.ID,
    name: json.Spec?.Name ?? "",
    labels: { ...(json.Spec?.Labels ?? {}) },
    version: json.Version?.Index ?? 0,
    ...(createdAt ? { createdAt } : {}),
    data: Buffer.from(json.Spec?.Data ?? "", "base64"),
  };
}

/** Reads one element of GET /networks (or `docker network inspect`). Pure. */
export function readNetworkRecord(json: DockerNetwork): NetworkRecord {
  return {
    id: json.Id,
    name: json.Name ?? "",
    driver: json.Driver ?? "",
    scope: json.Scope ?? "",
    internal: json.Internal === true,
    attachable: json.Attachable === true,
    ingress: json.Ingress === true,
    options: { ...(json.Options ?? {}) },
    labels: { ...(json.Labels ?? {}) },
  };
}

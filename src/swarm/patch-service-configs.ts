import type { ConfigReference, ServiceSpec } from "./docker-types.js";
import { mountFile, patchMountRefs, withContainerSpec } from "./patch-service-secrets.js";

/** A config to mount into a service at a target path. */
export interface ConfigAttachment {
  /** Config id. */
  configId: string;
  /** Config name. */
  configName: string;
  /** Target path in the container (`File.Name`, e.g. `/etc/envoy/envoy.yaml`): the reference with this target is replaced. */
  target: string;
  /** File owner uid; default: the replaced reference's, else "0". */
  uid?: string;
  /** File owner gid; default: the replaced reference's, else "0". */
  gid?: string;
  /** File mode; default: the replaced reference's, else 0o444. */
  mode?: number;
}

export interface ServiceConfigsPatchParams {
  /** Configs to mount; each replaces the reference with the same target path, or is appended. */
  replace: ConfigAttachment[];
  /** Other references to drop. Default: drop none. */
  remove?: (ref: ConfigReference) => boolean;
}

/** As `patchServiceSecrets`, for Docker configs (Envoy bootstrap). Pure and idempotent. */
export function patchServiceConfigs(spec: ServiceSpec, p: ServiceConfigsPatchParams): ServiceSpec {
  const current = spec.TaskTemplate?.ContainerSpec?.Configs ?? [];
  const next = patchMountRefs<ConfigReference, ConfigAttachment>(current, p.replace, p.remove, (a, prev) => ({
    ...(prev ? structuredClone(prev) : {}),
    File: mountFile(a, prev, a.target),
    ConfigID: a.configId,
    ConfigName: a.configName,
  }));
  return withContainerSpec(spec, (cs) => {
    if (next.length > 0) cs.Configs = next;
    else if (cs.Configs !== undefined && current.length > 0) delete cs.Configs;
  });
}

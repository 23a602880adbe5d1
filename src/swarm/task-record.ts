import type { DockerTask } from "./docker-types.js";
import type { TaskRecord } from "./swarm.js";
import { parseDockerTime } from "./service-record.js";

/** Reads one element of GET /tasks into a record. Pure. */
export function readTaskRecord(json: DockerTask): TaskRecord {
  const cs = json.Spec?.ContainerSpec;
  const st = json.Status ?? {};
  const cst = st.ContainerStatus;
  const createdAt = parseDockerTime(json.CreatedAt);
  const updatedAt = parseDockerTime(json.UpdatedAt ?? st.Timestamp);
  const record: TaskRecord = {
    id: json.ID,
    serviceId: json.ServiceID ?? "",
    desiredState: json.DesiredState ?? "",
    state: st.State ?? "",
    message: st.Message ?? "",
    secretIds: (cs?.Secrets ?? []).map((s) => s.SecretID).filter((x): x is string => typeof x === "string"),
    configIds: (cs?.Configs ?? []).map((c) => c.ConfigID).filter((x): x is string => typeof x === "string"),
    version: json.Version?.Index ?? 0,
  };
  if (typeof json.Slot === "number" && json.Slot > 0) record.slot = json.Slot;
  if (json.NodeID) record.nodeId = json.NodeID;
  if (st.Err) record.err = st.Err;
  // ExitCode 0 is reported for tasks that never ran too; only failed tasks carry a meaningful one.
  if (cst && typeof cst.ExitCode === "number" && (cst.ExitCode !== 0 || st.State === "complete")) record.exitCode = cst.ExitCode;
  if (cst?.ContainerID) record.containerId = cst.ContainerID;
  if (createdAt) record.createdAt = createdAt;
  if (updatedAt) record.updatedAt = updatedAt;
  return record;
}

export type * from "./docker-types.js";
export type * from "./swarm.js";
export { connectSwarm, parseSwarmEvent } from "./docker-client.js";
export { dockerConnectionFromEnv, resolveDockerEndpoint, type DockerConnectionParams, type DockerEndpoint } from "./docker-connection.js";
export {
  DockerCallError, dockerError, dockerStatusCode, isNameConflict, isNotFound, isOutOfSequence, readDockerFailure,
  type DockerCallFailure,
} from "./docker-error.js";
export { readServiceRecord, serviceMode, parseDockerTime } from "./service-record.js";
export { readTaskRecord } from "./task-record.js";
export { readConfigRecord, readNetworkRecord, readSecretRecord } from "./object-record.js";
export { patchServiceSecrets, type SecretAttachment, type ServiceSecretsPatchParams } from "./patch-service-secrets.js";
export { patchServiceConfigs, type ConfigAttachment, type ServiceConfigsPatchParams } from "./patch-service-configs.js";
export { startFirstWithHostPorts, withForcedUpdate, withStopFirstUpdates } from "./update-order.js";
export { readRollout, type FailedTask, type RolloutReading, type RolloutReadParams, type RolloutState } from "./read-rollout.js";
export { rolloutDeadlineMs, type RolloutDeadlineParams } from "./rollout-deadline.js";
export { waitForRollout, type RolloutWaitParams, type RolloutWaitResult } from "./wait-for-rollout.js";
export { updateServiceWithRetry, type ServiceUpdateResult, type ServiceUpdateRetryParams } from "./update-service-with-retry.js";
export {
  acquireLease, readLease, DEFAULT_LEASE_NAME, LEASE_EXPIRES_LABEL, LEASE_OWNER_LABEL,
  type Lease, type LeaseAcquireParams, type LeaseInfo,
} from "./lease.js";

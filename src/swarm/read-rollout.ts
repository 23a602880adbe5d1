import type { ServiceRecord, TaskRecord } from "./swarm.js";

export type RolloutState = "converged" | "pending" | "failed";

export interface RolloutReadParams {
  /** The service as inspected now. */
  service: ServiceRecord;
  /** Its tasks, as listed now. */
  tasks: TaskRecord[];
  /** The `Version.Index` the update was sent with: status older than the update is ignored. */
  fromVersion: number;
  /** Secret ids every new task must mount. */
  expectSecretIds: string[];
  /** Config ids every new task must mount. Default: none. */
  expectConfigIds?: string[];
  /** New tasks that failed before the rollout is called failed (restart loops). Default 3. */
  maxNewTaskFailures?: number;
  /**
   * How long every new task must have been running before the rollout counts as converged (Swarm's own update
   * monitor): a task that starts and crashes a moment later must not pass for converged. Default 0.
   */
  settleMs?: number;
  /** The time of this reading, ms since the epoch (the caller's clock); goes with `settleMs`, which is not checked without it. */
  nowMs?: number;
}

export interface FailedTask {
  id: string;
  err?: string;
  exitCode?: number;
  slot?: number;
}

export interface RolloutReading {
  state: RolloutState;
  /** Why it is pending or failed, for people. */
  reason?: string;
  /** Desired-running tasks that run with the new secrets/configs. */
  runningNew: number;
  /** Tasks wanted: replicas (replicated) or desired-running tasks (global). */
  desired: number;
  /** Desired-running tasks still on the old secrets/configs. */
  old: number;
  /** The latest new task that failed, when any. */
  failedTask?: FailedTask;
}

const FAILED_STATES = new Set(["failed", "rejected"]);
const FAILED_UPDATE_STATES = new Set(["paused", "rollback_started", "rollback_paused", "rollback_completed"]);

function hasAll(have: string[], want: string[]): boolean {
  return want.every((id) => have.includes(id));
}

function describeTask(t: FailedTask): string {
  const parts = [`task ${t.id}${t.slot !== undefined ? ` (slot ${t.slot})` : ""}`];
  if (t.err) parts.push(t.err);
  if (t.exitCode !== undefined) parts.push(`exit code ${t.exitCode}`);
  return parts.join(": ");
}

function newest(tasks: TaskRecord[]): TaskRecord | undefined {
  return [...tasks].sort((a, b) => (b.updatedAt?.getTime() ?? 0) - (a.updatedAt?.getTime() ?? 0) || b.version - a.version)[0];
}

/**
 * Judges a rollout by the tasks themselves (UpdateStatus has said `completed` while the new task was pending):
 * - converged: enough desired-running tasks run with the new ids, and no desired-running task has the old ones;
 * - failed: UpdateStatus paused / rollback_* once the service moved past `fromVersion`, the spec no longer carries
 *   the new ids, or new tasks failed `maxNewTaskFailures` times; the failed task's error and exit code are reported;
 * - pending otherwise, with the reason a new task is waiting when the engine says one.
 * Pure.
 */
export function readRollout(p: RolloutReadParams): RolloutReading {
  const { service, tasks } = p;
  const expectConfigs = p.expectConfigIds ?? [];
  const isNew = (t: TaskRecord) => hasAll(t.secretIds, p.expectSecretIds) && hasAll(t.configIds, expectConfigs);
  const own = tasks.filter((t) => t.serviceId === "" || t.serviceId === service.id);
  const live = own.filter((t) => t.desiredState === "running");
  const liveNew = live.filter(isNew);
  const runningNew = liveNew.filter((t) => t.state === "running").length;
  const old = live.length - liveNew.length;
  const desired =
    service.mode === "replicated"
      ? (service.replicas ?? 1)
      : service.mode === "global"
        ? new Set(live.map((t) => t.nodeId ?? t.id)).size
        : live.length;
  const failedNew = own.filter((t) => isNew(t) && FAILED_STATES.has(t.state));
  const lastFailed = newest(failedNew);
  const failedTask: FailedTask | undefined = lastFailed && {
    id: lastFailed.id,
    ...(lastFailed.err !== undefined ? { err: lastFailed.err } : {}),
    ...(lastFailed.exitCode !== undefined ? { exitCode: lastFailed.exitCode } : {}),
    ...(lastFailed.slot !== undefined ? { slot: lastFailed.slot } : {}),
  };
  const base = { runningNew, desired, old, ...(failedTask ? { failedTask } : {}) };
  const withTask = (s: string) => (failedTask ? `${s}; last failed ${describeTask(failedTask)}` : s);

  if (service.version <= p.fromVersion) {
    return { state: "pending", reason: `the update is not visible yet (service version ${service.version})`, ...base };
  }
  const us = service.updateStatus?.state;
  if (us && FAILED_UPDATE_STATES.has(us)) {
    const msg = service.updateStatus?.message ? ` (${service.updateStatus.message})` : "";
    return { state: "failed", reason: withTask(`update ${us}${msg}`), ...base };
  }
  const specSecretIds = service.secretRefs.map((r) => r.SecretID ?? "");
  const specConfigIds = service.configRefs.map((r) => r.ConfigID ?? "");
  if (!hasAll(specSecretIds, p.expectSecretIds) || !hasAll(specConfigIds, expectConfigs)) {
    return { state: "failed", reason: withTask("the service spec no longer carries the new secrets/configs (rolled back or changed by someone else)"), ...base };
  }
  if (failedNew.length >= (p.maxNewTaskFailures ?? 3)) {
    return { state: "failed", reason: withTask(`${failedNew.length} new tasks failed`), ...base };
  }
  if (runningNew >= desired && old === 0 && liveNew.every((t) => t.state === "running")) {
    const settle = p.settleMs ?? 0;
    const now = p.nowMs;
    const young = now === undefined ? [] : liveNew.filter((t) => t.updatedAt !== undefined && now - t.updatedAt.getTime() < settle);
    if (young.length === 0) return { state: "converged", ...base };
    return { state: "pending", reason: `${young.length} new task(s) running for less than ${Math.round(settle / 1000)}s (watching for a crash)`, ...base };
  }
  const waiting = newest(liveNew.filter((t) => t.state !== "running" && t.err));
  const reason = waiting
    ? `new task ${waiting.id} is ${waiting.state}: ${waiting.err}`
    : `${runningNew}/${desired} tasks running with the new secrets, ${old} on the old ones`;
  return { state: "pending", reason: failedTask ? `${reason}; last failed ${describeTask(failedTask)}` : reason, ...base };
}

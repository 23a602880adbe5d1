import { setTimeout as sleepMs } from "node:timers/promises";
import { readRollout, type RolloutReading } from "./read-rollout.js";
import type { Swarm } from "./swarm.js";

export interface RolloutWaitParams {
  serviceId: string;
  /** The `Version.Index` the update was sent with. */
  fromVersion: number;
  /** Secret ids the new tasks must mount. */
  expectSecretIds: string[];
  /** Config ids the new tasks must mount. Default none. */
  expectConfigIds?: string[];
  /** Give up after this many ms (see `rolloutDeadlineMs`). */
  deadlineMs: number;
  /** Stops the wait (throws the abort reason). Default: never. */
  signal?: AbortSignal;
  /** Called with every reading. Default: nothing. */
  onProgress?: (r: RolloutReading) => void;
  /** First poll delay, ms. Default 250; grows ×1.5 up to `maxPollMs`. */
  firstPollMs?: number;
  /** Longest poll delay, ms. Default 1 000. */
  maxPollMs?: number;
  /** New-task failures that make the rollout failed. Default 3. */
  maxNewTaskFailures?: number;
  /** How long new tasks must run before the rollout counts as converged (see readRollout). Default 0. */
  settleMs?: number;
  /** Injectable sleep. Default: timers/promises. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The caller's clock in ms (the deadline and the settle window count on it). */
  now: () => number;
}

export interface RolloutWaitResult extends RolloutReading {
  /** True when the deadline passed before the rollout converged or failed (state is then `pending`). */
  timedOut: boolean;
  /** Polls made. */
  polls: number;
}

const defaultSleep = async (ms: number, signal?: AbortSignal) => {
  await sleepMs(ms, undefined, signal ? { signal } : undefined);
};

/** Polls the service and its tasks with backoff until the rollout converges, fails, or the deadline passes. */
export async function waitForRollout(swarm: Swarm, p: RolloutWaitParams): Promise<RolloutWaitResult> {
  const now = p.now;
  const sleep = p.sleep ?? defaultSleep;
  const start = now();
  let delay = p.firstPollMs ?? 250;
  const maxDelay = p.maxPollMs ?? 1_000;
  let polls = 0;
  for (;;) {
    p.signal?.throwIfAborted();
    const [service, tasks] = await Promise.all([swarm.inspectService(p.serviceId), swarm.listTasks({ serviceId: p.serviceId })]);
    polls++;
    const reading = readRollout({
      service,
      tasks,
      fromVersion: p.fromVersion,
      expectSecretIds: p.expectSecretIds,
      ...(p.expectConfigIds ? { expectConfigIds: p.expectConfigIds } : {}),
      ...(p.maxNewTaskFailures !== undefined ? { maxNewTaskFailures: p.maxNewTaskFailures } : {}),
      ...(p.settleMs !== undefined ? { settleMs: p.settleMs, nowMs: now() } : {}),
    });
    p.onProgress?.(reading);
    if (reading.state !== "pending") return { ...reading, timedOut: false, polls };
    const left = start + p.deadlineMs - now();
    if (left <= 0) return { ...reading, timedOut: true, polls };
    await sleep(Math.min(delay, left), p.signal);
    delay = Math.min(maxDelay, Math.round(delay * 1.5));
  }
}

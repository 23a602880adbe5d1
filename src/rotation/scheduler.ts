import cron from "node-cron";
import { badInput } from "../errors.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";

/** What asked for a reconcile: the schedule, a Docker event (with the service), the API or the start. */
export interface ReconcileRequest {
  trigger: "start" | "schedule" | "event" | "api";
  /** Only these services; undefined = all. */
  services?: string[];
}

export interface ReconcileLoopParams {
  cron: string;
  /** "HH:MM-HH:MM" (UTC) outside which scheduled reconciles don't start; "" = always. */
  maintenanceWindow: string;
  logger: Logger;
  /** The work; must not throw (log instead). */
  reconcile: (r: ReconcileRequest) => Promise<void>;
  /** For the maintenance window. */
  now: Clock;
}

/** Is `now` inside the window "HH:MM-HH:MM" (UTC; a window may wrap past midnight)? Empty = always. Pure. */
export function inMaintenanceWindow(window: string, now: Date): boolean {
  if (!window) return true;
  const m = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(window);
  if (!m) throw badInput(`schedule.maintenanceWindow: '${window}' must be HH:MM-HH:MM`);
  const [from, to] = [Number(m[1]) * 60 + Number(m[2]), Number(m[3]) * 60 + Number(m[4])];
  const t = now.getUTCHours() * 60 + now.getUTCMinutes();
  return from <= to ? t >= from && t < to : t >= from || t < to;
}

/**
 * Runs reconciles one at a time. Requests that arrive while one runs are merged into the next run (all-services
 * requests swallow per-service ones), so a burst of Docker events costs one extra reconcile, not one each.
 */
export function startReconcileLoop(p: ReconcileLoopParams): { request(r: ReconcileRequest): void; stop(): Promise<void>; idle(): Promise<void> } {
  if (!cron.validate(p.cron)) throw badInput(`schedule.cron: '${p.cron}' is not a cron expression`);
  const now = p.now;
  let running: Promise<void> | null = null;
  let pending: ReconcileRequest | null = null;
  let stopped = false;

  const merge = (a: ReconcileRequest | null, b: ReconcileRequest): ReconcileRequest => {
    if (!a) return b;
    if (!a.services || !b.services) return { trigger: a.trigger, services: undefined };
    return { trigger: a.trigger, services: [...new Set([...a.services, ...b.services])] };
  };
  const pump = (): void => {
    if (running || !pending || stopped) return;
    const r = pending;
    pending = null;
    running = p.reconcile(r).finally(() => {
      running = null;
      pump();
    });
  };
  const request = (r: ReconcileRequest): void => {
    if (stopped) return;
    pending = merge(pending, r);
    pump();
  };
  const task = cron.schedule(
    p.cron,
    () => {
      if (!inMaintenanceWindow(p.maintenanceWindow, now())) {
        p.logger.debug({ component: "scheduler" }, "outside the maintenance window; skipping");
        return;
      }
      request({ trigger: "schedule" });
    },
    { timezone: "Etc/UTC" },
  );
  return {
    request,
    async idle() {
      while (running || pending) await (running ?? Promise.resolve());
    },
    async stop() {
      stopped = true;
      pending = null;
      await task.stop();
      if (running) await running;
    },
  };
}

/**
 * When to try again after a reconcile was refused by another rotator's lease: just after that lease expires (a
 * crashed holder's lease is taken over then; a live holder renews it and we are refused again, at most once per TTL),
 * at least `minMs` from now and at most the lease TTL (an expiry far away, e.g. hand-edited, is re-read then). An
 * unknown expiry (the lease was gone when read) retries after `minMs`. Pure: the clock is a parameter.
 */
export function leaseRetryDelayMs(p: { heldUntil: Date | null; now: Date; ttlMs: number; marginMs?: number; minMs?: number }): number {
  const minMs = p.minMs ?? 1000;
  if (p.heldUntil === null || Number.isNaN(p.heldUntil.getTime())) return minMs;
  const wait = p.heldUntil.getTime() - p.now.getTime() + (p.marginMs ?? 1000);
  return Math.min(Math.max(wait, minMs), Math.max(p.ttlMs, minMs));
}

/** Debounces per key: `fire(keys)` runs `delayMs` after the last `push` of a burst, with every key pushed. */
export function debounceKeys(delayMs: number, fire: (keys: string[]) => void): { push(key: string): void; cancel(): void } {
  const keys = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  return {
    push(key) {
      keys.add(key);
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        const list = [...keys];
        keys.clear();
        fire(list);
      }, delayMs);
    },
    cancel() {
      if (timer) clearTimeout(timer);
      keys.clear();
    },
  };
}

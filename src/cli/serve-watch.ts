/**
 * What `serve` watches besides its schedule: Docker's events (a service created or updated is reconciled; a new
 * version of this CA's state config is read) and, on the file store, the CA state file.
 */
import { watch } from "node:fs";
import type { Logger } from "../log.js";
import { debounceKeys } from "../rotation/scheduler.js";
import { FILE_STORE_LAYOUT } from "../store/file-store.js";
import type { Swarm } from "../swarm/swarm.js";

/** How soon after the store says the CA state changed serve reads it (the writes of one command come together), ms. */
export const CA_WRITTEN_DEBOUNCE_MS = 250;

/**
 * Docker events: a service created or updated is reconciled soon (debounced 2 s), not at the next schedule; a new
 * version of this CA's state config is read at once.
 */
export function watchSwarmEvents(swarm: Swarm, on: { loop: { request(r: { trigger: string; services?: string[] }): void }; caState: RegExp; caWritten: (name: string) => void }, signal: AbortSignal, log: Logger): void {
  const debounced = debounceKeys(2000, (services) => on.loop.request({ trigger: "event", services }));
  void swarm
    .events(
      { types: ["service", "config"], signal, onReconnect: (e, ms) => log.warn({ err: (e as Error)?.message, retryInMs: ms }, "Docker event stream dropped; reconnecting") },
      (e) => {
        if (e.type === "config") {
          if (e.action === "create" && e.name && on.caState.test(e.name)) on.caWritten(e.name);
        } else if (e.action === "create" || e.action === "update") debounced.push(e.name ?? e.id);
      },
    )
    .catch((e: unknown) => log.error({ err: (e as Error).message }, "Docker event stream stopped"));
  signal.addEventListener("abort", () => debounced.cancel());
}

/** The file store: the CA state file replaced (atomic rename) or written is read at once. */
export function watchCaStateFile(dir: string, caWritten: (name: string) => void, signal: AbortSignal, log: Logger): void {
  try {
    const watcher = watch(dir, { signal, persistent: false }, (_event, file) => {
      if (file === FILE_STORE_LAYOUT.caState) caWritten(file);
    });
    watcher.on("error", (e) => log.warn({ err: e.message }, "stopped watching the CA state file; it is read at each reconcile"));
  } catch (e) {
    log.warn({ err: (e as Error).message, dir }, "cannot watch the CA state file; it is read at each reconcile");
  }
}

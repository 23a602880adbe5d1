/**
 * Swarm mode of `serve`: services opted in by labels, certificates in versioned secrets, rollouts under the lease,
 * and the automatic CA rotation. Gathers through `gatherFleet` (cached briefly for reads), acts through `rotate`.
 */
import type { Clock } from "../clock.js";
import type { Config } from "../config/load-config.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaStore } from "../store/ca-store.js";
import { readKekFile } from "../store/kek-file.js";
import type { Swarm } from "../swarm/swarm.js";
import { caRotationServices, caRotationStatus } from "./ca-rotation.js";
import { intermediateRotationDue } from "./ca-rotation-phase.js";
import { readCaRotationRecord } from "./ca-rotation-record.js";
import { gatherFleet } from "./fleet.js";
import type { RotationObserver } from "./rollout.js";
import { backoffPolicy, rolloutBackoffs, type RolloutBackoffs } from "./rollout-backoff.js";
import { createRotator } from "./rotator.js";
import { recentValue, type ServingMode } from "./serving-mode.js";
import { statusRows } from "./status-rows.js";
import type { ServiceStatus } from "./serving-types.js";
import type { Fleet } from "./fleet.js";

export interface SwarmModeParams {
  swarm: Swarm;
  store: CaStore;
  kekFile: string;
  config: Config;
  logger: Logger;
  observer: RotationObserver;
  now: Clock;
  /** How long a gathered fleet serves reads, ms. */
  fleetCacheMs: number;
  /** Aborted when serve stops and its grace ran out: running rollouts are abandoned (the next reconcile resumes). */
  stopSignal?: AbortSignal;
}

/** Status rows, a service held back after a failed rollout saying until when and why (serve's memory only). */
function withBackoff(fleet: Fleet, backoff: RolloutBackoffs, config: Config, now: Date): ServiceStatus[] {
  return statusRows(fleet, config, now).map((row, i) => {
    const entry = fleet.entries[i];
    const why = entry?.identity && entry.verdict?.action !== "none" ? backoff.heldBack(entry.service, now, false) : null;
    const b = why !== null && entry ? backoff.current(entry.service, now) : undefined;
    return b ? { ...row, retryAt: b.retryAt.toISOString(), reason: `held back: ${why}` } : row;
  });
}

export function swarmMode(p: SwarmModeParams): ServingMode {
  const fleet = recentValue({ ttlMs: p.fleetCacheMs, nowMs: () => p.now().getTime(), load: (a) => gatherFleet(p.swarm, a, p.config, { force: false, now: p.now() }) });
  // Rollouts and CA rotation steps run under the lease, and stop on its signal or on serve's stop signal.
  const rotator = createRotator({ swarm: p.swarm, config: p.config, logger: p.logger, now: p.now, ...(p.stopSignal ? { stopSignal: p.stopSignal } : {}) });
  // Failed rollouts wait out a backoff before serve tries them again (see rollout-backoff.ts); kept in memory only.
  const backoff = rolloutBackoffs(backoffPolicy(p.config.seconds));
  const entryOf = async (a: Parameters<typeof fleet.get>[0], identity: string) => (await fleet.get(a)).entries.find((e) => e.identity?.identity === identity);

  return {
    name: "swarm",
    unknownIdentity: `no opted-in service has it (label ${p.config.labelPrefix}enable=true)`,
    rows: async (a) => withBackoff(await fleet.get(a), backoff, p.config, p.now()),
    async rotate(a, r) {
      const params = { services: r.services, identities: r.identities, force: r.force, dryRun: r.dryRun, trigger: r.trigger, onlyOptedIn: r.trigger === "event", backoff };
      const run = rotator.rotate({ authority: a, observer: p.observer }, params);
      if (r.dryRun) return (await run).outcomes;
      try {
        return (await run).outcomes;
      } finally {
        fleet.forget();
      }
    },
    async allowedIdentity(a, identity) {
      const want = (await entryOf(a, identity))?.identity;
      return want ? { identity, dnsNames: want.dnsNames, uris: [want.spiffeId], ttlSeconds: want.ttlSeconds } : undefined;
    },
    async envoyBootstrap(a, identity) {
      const e = await entryOf(a, identity);
      if (!e) throw new MtlsError("not-found", `no managed service with identity '${identity}'`);
      if (!e.envoy) throw new MtlsError("not-found", `service ${e.service.name} has no Envoy sidecar (label ${p.config.labelPrefix}envoy=true)`);
      return e.envoy.yaml;
    },
    async caRotation(a) {
      const record = readCaRotationRecord(a);
      return record ? caRotationStatus(a, record, caRotationServices(await fleet.get(a))) : caRotationStatus(a, record);
    },
    // Automatic CA rotation: an intermediate with less than ca.rotateBefore of its life left is rotated, one phase per
    // reconcile, and a rotation in progress (started by `rotate-ca --step` or a crash) is carried on.
    async advanceCaRotation(a, trigger) {
      if (p.stopSignal?.aborted) return false;
      const record = readCaRotationRecord(a);
      const inProgress = record !== null && record.phase !== "complete";
      const due = intermediateRotationDue({ notBefore: a.intermediate.cert.notBefore, notAfter: a.intermediate.cert.notAfter, now: p.now(), rotateBefore: p.config.ca.rotateBefore });
      if (!inProgress && !due) return false;
      const deps = { store: p.store, kek: await readKekFile(p.kekFile), observer: p.observer };
      try {
        const report = await rotator.rotateCa(deps, { oneStep: true, trigger });
        const done = report.finished[0];
        p.logger.child({ component: "audit" }).info({ trigger, rotation: report.rotation?.id, step: done?.step, phase: done?.phase, next: report.next }, "CA rotation step finished");
        return true;
      } finally {
        fleet.forget();
      }
    },
    ping: async () => {
      await p.swarm.info();
    },
  };
}

/**
 * The serving plane: what `serve` runs on, translating between the HTTP API (`ControlPlane`) and the rotation layer.
 * It holds the CA (opened once, re-opened when the state changes), serialises rotations within the process and maps
 * rows and outcomes to the API's shapes; the store mode (swarm-mode.ts or embedded-mode.ts) gathers, plans and acts.
 */
import { bundlePem, describeAuthority, type Authority, type CaCertificateInfo } from "../ca/index.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load-config.js";
import { MtlsError, type ErrorCode } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaStore } from "../store/ca-store.js";
import type { Swarm } from "../swarm/swarm.js";
import { createCaSource } from "./ca-source.js";
import type { CaRotationStatus } from "./ca-rotation.js";
import { cachedCheck } from "./cached-check.js";
import { signForApi } from "./csr-signing.js";
import { embeddedMode } from "./embedded-mode.js";
import { observeFleet, oneAtATime, reconcileOnce, type PlaneMetrics, type ReconcileResult } from "./serving-reconcile.js";
import type { RotationObserver, ServiceOutcome } from "./rollout.js";
import type { ServingMode } from "./serving-mode.js";
import type { RotateRequest, RotationOutcome, ServiceStatus, SignCsrInput, SignedCsr } from "./serving-types.js";
import { swarmMode } from "./swarm-mode.js";

export type { PlaneMetrics, ReconcileResult } from "./serving-reconcile.js";

/** What `serve` exposes over HTTP (structurally the API's ControlPlane) plus the reconcile the scheduler runs. */
export interface ServingPlane {
  ready(): Promise<{ ready: boolean; reason?: string; code?: ErrorCode }>;
  bundlePem(): Promise<string>;
  caInfo(): Promise<CaCertificateInfo[]>;
  listServices(): Promise<ServiceStatus[]>;
  getService(identity: string): Promise<ServiceStatus>;
  rotate(identity: string | null, req: RotateRequest, actor: string): Promise<RotationOutcome[]>;
  envoyBootstrap(identity: string): Promise<string>;
  signCsr(p: SignCsrInput, actor: string): Promise<SignedCsr>;
  /** One reconcile (start, schedule, event); never throws, logs instead. */
  reconcile(p: { trigger: string; services?: string[] }): Promise<ReconcileResult>;
  /** The CA as loaded now (re-read from the store on every reconcile, and when the store says it changed). */
  authority(): Authority | null;
  /** Re-reads the CA state now (the store says it changed: a CLI `rotate-ca`, `restore`); never throws, logs instead. */
  refreshCa(): Promise<void>;
  /** The last or running CA rotation with services done / total (swarm mode); null when none ever ran. */
  caRotation(): Promise<CaRotationStatus | null>;
}

export interface PlaneCreateParams {
  store: CaStore;
  kekFile: string;
  config: Config;
  logger: Logger;
  metrics: PlaneMetrics;
  /** Swarm mode when given; the file store's embedded mode otherwise. */
  swarm?: Swarm;
  /** Directory of the file store (embedded mode writes DIR/certs/<identity>/). */
  dataDir?: string;
  /** How long a readiness answer is reused, ms; default READY_CACHE_MS. */
  readyCacheMs?: number;
  /** How long a gathered fleet answers reads (status, Envoy, sign) and the CA is trusted unchecked, ms; default FLEET_CACHE_MS. */
  fleetCacheMs?: number;
  /** Aborted when serve stops and its grace ran out: running rollouts are abandoned (the next reconcile resumes). */
  stopSignal?: AbortSignal;
  /** The clock every read, reconcile and rotation is given (serve passes the system clock). */
  now: Clock;
}

/** How long `/readyz` reuses an answer: probes cannot make the server read and decrypt the CA more often. */
export const READY_CACHE_MS = 5000;
/** How long a gathered fleet serves reads: a burst of status or Envoy requests costs one gather. */
export const FLEET_CACHE_MS = 2000;

/** A rotation outcome as the API shows it. Pure. */
export function toApiOutcome(o: ServiceOutcome): RotationOutcome {
  const action = o.result === "up-to-date" ? "skipped" : o.result === "invalid" ? "failed" : o.result;
  return {
    identity: o.identity ?? o.service,
    service: o.service,
    action,
    reason: o.reason,
    generationBefore: o.generationBefore ?? 0,
    generationAfter: o.generationAfter ?? 0,
    ...(o.error ? { error: o.error } : {}),
  };
}

const notFound = (identity: string) => new MtlsError("not-found", `no managed service with identity '${identity}'`);

/** Builds what `serve` runs on: swarm mode (services by labels) or embedded mode (identities from config, files). */
export function createServingPlane(p: PlaneCreateParams): ServingPlane {
  const now = p.now;
  const fleetCacheMs = p.fleetCacheMs ?? FLEET_CACHE_MS;
  const ca = createCaSource({
    store: p.store,
    kekFile: p.kekFile,
    logger: p.logger,
    recheckMs: fleetCacheMs,
    nowMs: () => now().getTime(),
    onOpen: (a) => p.metrics.setCaExpiries(describeAuthority(a).map((c) => ({ role: c.role, fingerprint: c.fingerprint, notAfter: c.notAfter }))),
  });
  const observer: RotationObserver = {
    issued: (alg) => p.metrics.certificatesIssued(alg),
    finished: (o, seconds) => {
      if (o.result === "rotated" || o.result === "reattached" || o.result === "failed") p.metrics.rotation(o.result, seconds, o.identity ?? o.service);
    },
  };
  const common = { config: p.config, logger: p.logger, observer, now };
  const mode: ServingMode = p.swarm
    ? swarmMode({ ...common, swarm: p.swarm, store: p.store, kekFile: p.kekFile, fleetCacheMs, ...(p.stopSignal ? { stopSignal: p.stopSignal } : {}) })
    : embeddedMode({ ...common, dataDir: p.dataDir ?? "." });
  // One rotation at a time within this process: an API rotate and a scheduled or event reconcile wait for each other
  // instead of failing on their own lease (which would drop an event's reconcile until the next schedule).
  const exclusive = oneAtATime();
  const deps = { mode, ca, exclusive, metrics: p.metrics, logger: p.logger, now };
  const findRow = async (identity: string): Promise<ServiceStatus> => {
    const row = (await mode.rows(await ca.current())).find((r) => r.identity === identity);
    if (!row) throw notFound(identity);
    return row;
  };

  return {
    authority: () => ca.loaded(),
    refreshCa: () =>
      ca.refresh().then(
        () => undefined,
        (e: unknown) => p.logger.warn({ err: (e as Error).message }, "could not re-read the CA state after the store changed; the next reconcile reads it again"),
      ),
    caRotation: async () => mode.caRotation(await ca.current()),
    ready: cachedCheck({
      ttlMs: p.readyCacheMs ?? READY_CACHE_MS,
      now: () => now().getTime(),
      check: async () => {
        try {
          await ca.refresh();
          await mode.ping();
          return { ready: true };
        } catch (e) {
          return { ready: false, reason: (e as Error).message, ...(e instanceof MtlsError ? { code: e.code } : {}) };
        }
      },
    }),
    bundlePem: async () => bundlePem(await ca.current()),
    caInfo: async () => describeAuthority(await ca.current()),
    listServices: async () => mode.rows(await ca.current()),
    getService: findRow,
    async rotate(identity, req, actor) {
      const params = { ...(identity === null ? {} : { identities: [identity] }), force: req.force === true, dryRun: req.dryRun === true, trigger: `api:${actor}` };
      const run = async () => mode.rotate(await ca.refresh(), params);
      const outcomes = params.dryRun ? await run() : await exclusive(run);
      if (identity !== null && !outcomes.some((o) => o.identity === identity)) throw notFound(identity);
      if (!params.dryRun) await observeFleet(deps, p.logger.child({ component: "serve" })); // the certificate series follow the change
      return outcomes.map(toApiOutcome);
    },
    envoyBootstrap: async (identity) => mode.envoyBootstrap(await ca.current(), identity),
    async signCsr(req, actor) {
      const a = await ca.current();
      return signForApi({ authority: a, logger: p.logger, allowed: (id) => mode.allowedIdentity(a, id), unknownIdentity: mode.unknownIdentity, issued: (alg) => p.metrics.certificatesIssued(alg) }, req, actor);
    },
    reconcile: (r) => reconcileOnce(deps, r),
  };
}

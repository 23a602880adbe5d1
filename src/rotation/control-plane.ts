import { setMaxListeners } from "node:events";
import {
  bundlePem,
  describeAuthority,
  signCsr,
  validateIdentity,
  type Authority,
  type CaCertificateInfo,
} from "../ca/index.js";
import type { Config } from "../config/load-config.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaStore } from "../store/ca-store.js";
import { readKekFile } from "../store/kek-file.js";
import { openStoredAuthority } from "../store/open-ca-state.js";
import type { Swarm } from "../swarm/swarm.js";
import { caRotationServices, caRotationStatus, rotateCa, type CaRotationStatus } from "./ca-rotation.js";
import { intermediateRotationDue } from "./ca-rotation-phase.js";
import { readCaRotationRecord } from "./ca-rotation-record.js";
import { gatherFleet } from "./fleet.js";
import { rotate, type RotationObserver, type ServiceOutcome } from "./rollout.js";
import { certificateMetricStates, statusRow, statusRows, type CertificateMetricState, type ServiceStatusRow } from "./status-rows.js";
import { LeaseHeldError, withLease } from "./with-lease.js";
import { auditRecord, writeAudit } from "./audit-record.js";
import { cachedCheck } from "./cached-check.js";
import { readEnvoyYaml } from "../store/embedded-files.js";
import { embeddedWant, gatherEmbeddedFleet, identityDir } from "./embedded-fleet.js";
import { rotateEmbedded } from "./embedded-rotate.js";
import { csrRequests, decideSign, type AllowedIdentity } from "./sign-policy.js";
import type { RotateRequest, RotationOutcome, ServiceStatus, SignCsrInput, SignedCsr } from "./serving-types.js";

/** What `serve` exposes over HTTP (structurally the API's ControlPlane) plus the reconcile the scheduler runs. */
export interface ServingPlane {
  ready(): Promise<{ ready: boolean; reason?: string }>;
  bundlePem(): Promise<string>;
  caInfo(): Promise<CaCertificateInfo[]>;
  listServices(): Promise<ServiceStatus[]>;
  getService(identity: string): Promise<ServiceStatus>;
  rotate(identity: string | null, req: RotateRequest, actor: string): Promise<RotationOutcome[]>;
  envoyBootstrap(identity: string): Promise<string>;
  signCsr(p: SignCsrInput, actor: string): Promise<SignedCsr>;
  /** One reconcile (start, schedule, event); never throws, logs instead. */
  reconcile(p: { trigger: string; services?: string[] }): Promise<ReconcileResult>;
  /** The CA as loaded now (re-read from the store on every reconcile). */
  authority(): Authority | null;
  /** The last or running CA rotation with services done / total (swarm mode); null when none ever ran. */
  caRotation(): Promise<CaRotationStatus | null>;
}

/** How a reconcile ended, for whoever schedules the next one. */
export interface ReconcileResult {
  /**
   * Set when another rotator's lease refused (part of) the reconcile: that lease's expiry as read, null when unknown.
   * A crashed holder's lease is taken over once it expires, so the caller retries then instead of waiting for the
   * schedule.
   */
  leaseHeldUntil?: Date | null;
}

export interface PlaneMetrics {
  certificatesIssued(alg: string): void;
  rotation(result: "rotated" | "reattached" | "failed" | "skipped", seconds?: number, identity?: string): void;
  setCertificate(identity: string, state: CertificateMetricState | null): void;
  setLeafExpiry(identity: string, notAfter: Date | null): void;
  /** Forget the expiry of every identity not listed (services gone, opted out, identities removed from config). */
  keepLeafExpiries(identities: readonly string[]): void;
  setCaExpiries(entries: { role: string; fingerprint: string; notAfter: Date }[]): void;
  reconcileFinished(result: "ok" | "failed" | "lease-held", at: Date): void;
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
  /** Aborted when serve stops and its grace ran out: running rollouts are abandoned (the next reconcile resumes). */
  stopSignal?: AbortSignal;
}

/** How long `/readyz` reuses an answer: probes cannot make the server read and decrypt the CA more often. */
export const READY_CACHE_MS = 5000;

function toApiStatus(r: ServiceStatusRow): ServiceStatus {
  return { ...r, identity: r.identity ?? r.service, generation: r.generation ?? 0, reason: r.reason || undefined };
}

function toApiOutcome(o: ServiceOutcome): RotationOutcome {
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

/** Builds what `serve` runs on: swarm mode (services by labels) or embedded mode (identities from config, files). */
export function createServingPlane(p: PlaneCreateParams): ServingPlane {
  let authority: Authority | null = null;
  const log = p.logger.child({ component: "serve" });
  const audit = p.logger.child({ component: "audit" });
  // A rollout stops on the lease's signal or on serve's stop signal, whichever comes first.
  const orStop = (signal: AbortSignal): AbortSignal => {
    if (!p.stopSignal) return signal;
    const both = AbortSignal.any([signal, p.stopSignal]);
    setMaxListeners(0, both);
    return both;
  };

  const load = async (): Promise<Authority> => {
    const opened = await openStoredAuthority(p.store, await readKekFile(p.kekFile), p.logger);
    if (opened === null) throw new MtlsError("no-ca", `no CA in ${p.store.location}: run \`swarm-mtls init\` first`);
    authority = opened;
    p.metrics.setCaExpiries(describeAuthority(authority).map((c) => ({ role: c.role, fingerprint: c.fingerprint, notAfter: c.notAfter })));
    return authority;
  };
  const ca = async (): Promise<Authority> => authority ?? load();

  const observer: RotationObserver = {
    issued: (alg) => p.metrics.certificatesIssued(alg),
    finished: (o, seconds) => {
      if (o.result === "rotated" || o.result === "reattached" || o.result === "failed") p.metrics.rotation(o.result, seconds, o.identity ?? o.service);
    },
  };

  const swarmRotate = async (services: string[] | undefined, force: boolean, dryRun: boolean, trigger: string): Promise<ServiceOutcome[]> => {
    const swarm = p.swarm as Swarm;
    const a = await load();
    const deps = { swarm, authority: a, config: p.config, logger: p.logger, observer };
    const run = (signal?: AbortSignal) => rotate(deps, { services, force, dryRun, trigger, signal: signal && orStop(signal), onlyOptedIn: trigger === "event" });
    const report = dryRun ? await run() : await withLease(swarm, { ttlSeconds: p.config.seconds.leaseTtl, name: p.config.rotation.leaseName, logger: p.logger }, run);
    return report.outcomes;
  };

  // Every opted-in service (or configured identity) is in the rows: one that is not (service removed, opted out)
  // loses its series.
  const observeRows = (rows: ServiceStatusRow[], now: Date): void => {
    const states = certificateMetricStates(rows, now);
    for (const s of states) p.metrics.setCertificate(s.identity, s.state);
    p.metrics.keepLeafExpiries(states.map((s) => s.identity));
  };

  const swarmStatus = async (): Promise<ServiceStatusRow[]> => {
    const now = new Date();
    const fleet = await gatherFleet(p.swarm as Swarm, await ca(), p.config, { force: false, now });
    const rows = statusRows(fleet, p.config, now);
    observeRows(rows, now);
    return rows;
  };

  // Embedded mode: identities from config, certificates in DIR/certs/<identity>/ (src/store/embedded-files.ts),
  // gathered and planned like swarm mode (embedded-fleet.ts), acted on by embedded-rotate.ts.
  const dataDir = p.dataDir ?? ".";
  const embeddedDeps = (a: Authority) => ({ dataDir, authority: a, config: p.config, logger: p.logger, observer, now: () => new Date() });
  const fileStatus = async (): Promise<ServiceStatusRow[]> => {
    const now = new Date();
    const fleet = await gatherEmbeddedFleet({ dataDir, authority: await ca(), config: p.config, now, force: false });
    const rows = fleet.entries.map((e) => statusRow({ service: e.identity, identity: e.identity, attached: e.current || null, generations: e.generations, ...(e.verdict ? { verdict: e.verdict } : {}), ...(e.error ? { error: e.error } : {}) }, p.config, now));
    observeRows(rows, now);
    return rows;
  };
  const fileRotate = async (names: string[] | undefined, force: boolean, dryRun: boolean, trigger: string): Promise<ServiceOutcome[]> => {
    const report = await rotateEmbedded(embeddedDeps(await load()), { ...(names ? { identities: names } : {}), force, dryRun, trigger });
    return report.outcomes;
  };

  // One rotation at a time within this process: an API rotate and a scheduled or event reconcile wait for each other
  // instead of failing on their own lease (which would drop an event's reconcile until the next schedule).
  let exclusive: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const next = exclusive.then(work, work);
    exclusive = next.catch(() => undefined);
    return next;
  };
  const runRotate = (services: string[] | undefined, force: boolean, dryRun: boolean, trigger: string) =>
    dryRun
      ? p.swarm ? swarmRotate(services, force, dryRun, trigger) : fileRotate(services, force, dryRun, trigger)
      : oneAtATime(() => (p.swarm ? swarmRotate(services, force, dryRun, trigger) : fileRotate(services, force, dryRun, trigger)));
  const listRows = () => (p.swarm ? swarmStatus() : fileStatus());
  const findRow = async (identity: string): Promise<ServiceStatusRow> => {
    const row = (await listRows()).find((r) => r.identity === identity);
    if (!row) throw new MtlsError("not-found", `no managed service with identity '${identity}'`);
    return row;
  };

  // What POST /v1/sign may sign for an identity: the names the CA would give it by itself.
  const allowedIdentity = async (a: Authority, identity: string): Promise<AllowedIdentity | undefined> => {
    const maxTtl = a.maxLeafTtlSeconds;
    if (p.swarm) {
      const fleet = await gatherFleet(p.swarm, a, p.config, { force: false, now: new Date() });
      const want = fleet.entries.find((e) => e.identity?.identity === identity)?.identity;
      return want ? { identity, dnsNames: want.dnsNames, uris: [want.spiffeId], ttlSeconds: want.ttlSeconds } : undefined;
    }
    const id = p.config.identities.find((x) => x.name === identity);
    if (!id) return undefined;
    const want = embeddedWant(id, a, p.config, identityDir(dataDir, id.name));
    return { identity, dnsNames: want.dnsNames, uris: want.uris, ttlSeconds: want.ttlSeconds };
  };

  // Automatic CA rotation (swarm mode): an intermediate with less than ca.rotateBefore of its life left is rotated,
  // one phase per reconcile, and a rotation in progress (started by `rotate-ca --step` or a crash) is carried on.
  const advanceCaRotation = async (trigger: string): Promise<void> => {
    const swarm = p.swarm;
    if (!swarm || p.stopSignal?.aborted) return;
    const a = await load();
    const record = readCaRotationRecord(a);
    const inProgress = record !== null && record.phase !== "complete";
    const due = intermediateRotationDue({ notBefore: a.intermediate.cert.notBefore, notAfter: a.intermediate.cert.notAfter, now: new Date(), rotateBefore: p.config.ca.rotateBefore });
    if (!inProgress && !due) return;
    const kek = await readKekFile(p.kekFile);
    const deps = { swarm, store: p.store, kek, config: p.config, logger: p.logger, observer };
    const report = await oneAtATime(() =>
      withLease(swarm, { ttlSeconds: p.config.seconds.leaseTtl, name: p.config.rotation.leaseName, logger: p.logger }, (signal) => rotateCa(deps, { oneStep: true, trigger, signal: orStop(signal) })),
    );
    await load();
    const done = report.finished[0];
    audit.info({ trigger, rotation: report.rotation?.id, step: done?.step, phase: done?.phase, next: report.next }, "CA rotation step finished");
  };

  return {
    authority: () => authority,
    async caRotation() {
      const a = await ca();
      const record = readCaRotationRecord(a);
      if (!record || !p.swarm) return caRotationStatus(a, record);
      const fleet = await gatherFleet(p.swarm, a, p.config, { force: false, now: new Date() });
      return caRotationStatus(a, record, caRotationServices(fleet));
    },
    ready: cachedCheck({
      ttlMs: p.readyCacheMs ?? READY_CACHE_MS,
      check: async () => {
        try {
          await load();
          if (p.swarm) await p.swarm.info();
          return { ready: true };
        } catch (e) {
          return { ready: false, reason: (e as Error).message };
        }
      },
    }),
    bundlePem: async () => bundlePem(await ca()),
    caInfo: async () => describeAuthority(await ca()),
    listServices: async () => (await listRows()).map(toApiStatus),
    getService: async (identity) => toApiStatus(await findRow(identity)),
    async rotate(identity, req, actor) {
      const services = identity === null ? undefined : [(await findRow(identity)).service];
      const outcomes = await runRotate(services, req.force === true, req.dryRun === true, `api:${actor}`);
      if (req.dryRun !== true) await listRows().catch(() => undefined); // refresh the certificate series
      return outcomes.map(toApiOutcome);
    },
    async envoyBootstrap(identity) {
      if (!p.swarm) {
        const id = p.config.identities.find((x) => x.name === identity);
        if (!id) throw new MtlsError("not-found", `no configured identity '${identity}' (identities: in the config)`);
        if (!id.envoy) throw new MtlsError("not-found", `identity ${identity} has no Envoy sidecar (give it an envoy: block in the config)`);
        const yaml = await readEnvoyYaml(identityDir(dataDir, identity));
        if (yaml === null) throw new MtlsError("not-found", `the Envoy bootstrap of ${identity} is not written yet (it is written with its certificate)`);
        return yaml;
      }
      const fleet = await gatherFleet(p.swarm, await ca(), p.config, { force: false, now: new Date() });
      const e = fleet.entries.find((x) => x.identity?.identity === identity);
      if (!e) throw new MtlsError("not-found", `no managed service with identity '${identity}'`);
      if (!e.envoy) throw new MtlsError("not-found", `service ${e.service.name} has no Envoy sidecar (label ${p.config.labelPrefix}envoy=true)`);
      return e.envoy.yaml;
    },
    async signCsr(req, actor) {
      const a = await ca();
      const trigger = `api:${actor}`;
      let serial: string | null = null;
      let fingerprint: string | null = null;
      try {
        const identity = validateIdentity(req.identity);
        const decision = decideSign({
          request: { identity, ...(req.dnsNames ? { dnsNames: req.dnsNames } : {}), ...(req.ttlSeconds !== undefined ? { ttlSeconds: req.ttlSeconds } : {}) },
          allowed: await allowedIdentity(a, identity),
          csr: csrRequests(req.csrPem),
          maxTtlSeconds: a.maxLeafTtlSeconds,
          knownFrom: p.swarm ? `no opted-in service has it (label ${p.config.labelPrefix}enable=true)` : "it is not listed under `identities` in the config",
        });
        const leaf = await signCsr(a, { csrPem: req.csrPem, identity, dnsNames: decision.dnsNames, uris: decision.uris, ttlSeconds: decision.ttlSeconds });
        serial = leaf.serial;
        fingerprint = leaf.fingerprint;
        p.metrics.certificatesIssued(leaf.keyAlgorithm);
        writeAudit(p.logger, auditRecord({ event: "sign", trigger, identity, serial, fingerprint, result: "ok" }));
        return { chainPem: leaf.chainPem, serial: leaf.serial, notAfter: leaf.notAfter.toISOString(), bundlePem: bundlePem(a) };
      } catch (e) {
        const refused = e instanceof MtlsError && e.code === "bad-input";
        const error = e instanceof MtlsError ? e.message : "internal error";
        writeAudit(p.logger, auditRecord({ event: "sign", trigger, identity: /^[a-z0-9][a-z0-9._-]{0,62}$/.test(req.identity) ? req.identity : null, serial, fingerprint, result: refused ? "refused" : "failed", error }));
        throw e;
      }
    },
    async reconcile(r) {
      const result: ReconcileResult = {};
      try {
        const outcomes = await runRotate(r.services, false, false, r.trigger);
        const failed = outcomes.filter((o) => o.result === "failed" || o.result === "invalid");
        for (const o of failed) log.warn({ service: o.service, error: o.error }, "service not reconciled");
        for (const o of outcomes.filter((x) => x.result === "rotated" || x.result === "reattached")) {
          log.info({ service: o.service, identity: o.identity, result: o.result, reason: o.reason, detail: o.detail, generation: { from: o.generationBefore, to: o.generationAfter } }, `${o.result} (${o.reason})`);
        }
        await listRows().catch(() => undefined); // refresh expiry gauges
        p.metrics.reconcileFinished(failed.length === 0 ? "ok" : "failed", new Date());
        log.info({ trigger: r.trigger, services: outcomes.length, changed: outcomes.filter((o) => o.result === "rotated" || o.result === "reattached").length, failed: failed.length }, "reconcile done");
        await advanceCaRotation(r.trigger).catch((e: unknown) => {
          if (e instanceof MtlsError && e.code === "lease-held") {
            log.info({ trigger: r.trigger }, e.message);
            result.leaseHeldUntil = e instanceof LeaseHeldError ? e.heldUntil : null;
          } else log.warn({ trigger: r.trigger, err: (e as Error).message }, "CA rotation step did not finish; retried on the next reconcile");
        });
      } catch (e) {
        const leaseHeld = e instanceof MtlsError && e.code === "lease-held";
        p.metrics.reconcileFinished(leaseHeld ? "lease-held" : "failed", new Date());
        if (leaseHeld) {
          log.info({ trigger: r.trigger }, (e as Error).message);
          result.leaseHeldUntil = e instanceof LeaseHeldError ? e.heldUntil : null;
        } else log.error({ trigger: r.trigger, err: (e as Error).message }, "reconcile failed");
      }
      return result;
    },
  };
}

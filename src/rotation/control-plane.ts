import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  bundlePem,
  describeAuthority,
  issueLeaf,
  openAuthority,
  signCsr,
  spiffeIdFor,
  validateDnsName,
  validateIdentity,
  type Authority,
  type CaCertificateInfo,
} from "../ca/index.js";
import type { Config } from "../config/load-config.js";
import { parseDuration } from "../config/duration.js";
import { badInput, MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import { writeFileAtomic } from "../store/atomic-write.js";
import type { CaStore } from "../store/ca-store.js";
import { readKekFile } from "../store/kek-file.js";
import type { Swarm } from "../swarm/swarm.js";
import { caRotationServices, caRotationStatus, rotateCa, type CaRotationStatus } from "./ca-rotation.js";
import { intermediateRotationDue } from "./ca-rotation-phase.js";
import { readCaRotationRecord } from "./ca-rotation-record.js";
import { gatherFleet } from "./fleet.js";
import { renewalTime } from "./renewal-time.js";
import { rotate, type RotationObserver, type ServiceOutcome } from "./rollout.js";
import { statusRows, type ServiceStatusRow } from "./status-rows.js";
import { withLease } from "./with-lease.js";
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
  reconcile(p: { trigger: string; services?: string[] }): Promise<void>;
  /** The CA as loaded now (re-read from the store on every reconcile). */
  authority(): Authority | null;
  /** The last or running CA rotation with services done / total (swarm mode); null when none ever ran. */
  caRotation(): Promise<CaRotationStatus | null>;
}

export interface PlaneMetrics {
  certificatesIssued(alg: string): void;
  rotation(result: "rotated" | "reattached" | "failed" | "skipped", seconds?: number): void;
  setLeafExpiry(identity: string, notAfter: Date | null): void;
  setCaExpiries(entries: { role: string; fingerprint: string; notAfter: Date }[]): void;
  reconcileSucceeded(at: Date): void;
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
}

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

  const load = async (): Promise<Authority> => {
    const doc = await p.store.readCaState();
    if (doc === null) throw new MtlsError("no-ca", `no CA in ${p.store.location}: run \`swarm-mtls init\` first`);
    authority = await openAuthority(doc, await readKekFile(p.kekFile));
    p.metrics.setCaExpiries(describeAuthority(authority).map((c) => ({ role: c.role, fingerprint: c.fingerprint, notAfter: c.notAfter })));
    return authority;
  };
  const ca = async (): Promise<Authority> => authority ?? load();

  const observer: RotationObserver = {
    issued: (alg) => p.metrics.certificatesIssued(alg),
    finished: (o, seconds) => {
      if (o.result === "rotated" || o.result === "reattached" || o.result === "failed") p.metrics.rotation(o.result, seconds);
    },
  };

  const swarmRotate = async (services: string[] | undefined, force: boolean, dryRun: boolean, trigger: string): Promise<ServiceOutcome[]> => {
    const swarm = p.swarm as Swarm;
    const a = await load();
    const deps = { swarm, authority: a, config: p.config, logger: p.logger, observer };
    const run = (signal?: AbortSignal) => rotate(deps, { services, force, dryRun, trigger, signal, onlyOptedIn: trigger === "event" });
    const report = dryRun ? await run() : await withLease(swarm, { ttlSeconds: p.config.seconds.leaseTtl, name: p.config.rotation.leaseName, logger: p.logger }, run);
    return report.outcomes;
  };

  const swarmStatus = async (): Promise<ServiceStatusRow[]> => {
    const now = new Date();
    const fleet = await gatherFleet(p.swarm as Swarm, await ca(), p.config, { force: false, now });
    const rows = statusRows(fleet, p.config, now);
    for (const r of rows) if (r.identity) p.metrics.setLeafExpiry(r.identity, r.notAfter ? new Date(r.notAfter) : null);
    return rows;
  };

  // Embedded mode: identities from config, certificates written to DIR/certs/<identity>/ (atomic replace).
  const certDir = (identity: string): string => join(p.dataDir ?? ".", "certs", identity);
  const fileStatus = async (): Promise<ServiceStatusRow[]> => {
    const a = await ca();
    const now = new Date();
    const rows: ServiceStatusRow[] = [];
    for (const id of p.config.identities) {
      let cert: X509Certificate | null = null;
      try {
        cert = new X509Certificate(await readFile(join(certDir(id.name), "tls.crt")));
      } catch {
        cert = null;
      }
      if (!cert) {
        rows.push({ identity: id.name, service: id.name, generation: null, serial: null, notAfter: null, secondsLeft: null, nextRotation: null, issuer: null, state: "missing", reason: "no certificate yet" });
        continue;
      }
      const notBefore = new Date(cert.validFrom);
      const notAfter = new Date(cert.validTo);
      const serial = cert.serialNumber.toLowerCase();
      const due = renewalTime({ notBefore, notAfter, renewBefore: p.config.leaf.renewBefore, jitter: p.config.leaf.jitter, seed: serial });
      const issuedByNow = cert.checkIssued(new X509Certificate(a.intermediate.certPem));
      rows.push({
        identity: id.name,
        service: id.name,
        generation: 1,
        serial,
        notAfter: notAfter.toISOString(),
        secondsLeft: Math.round((notAfter.getTime() - now.getTime()) / 1000),
        nextRotation: due.toISOString(),
        issuer: null,
        state: now >= due || !issuedByNow ? "due" : "ok",
        reason: !issuedByNow ? "issued by another CA" : now >= due ? "due" : "",
      });
      p.metrics.setLeafExpiry(id.name, notAfter);
    }
    return rows;
  };
  const fileRotate = async (names: string[] | undefined, force: boolean, dryRun: boolean, trigger: string): Promise<ServiceOutcome[]> => {
    const a = await load();
    const rows = await fileStatus();
    const out: ServiceOutcome[] = [];
    for (const row of rows) {
      if (names && !names.includes(row.service)) continue;
      const id = p.config.identities.find((x) => x.name === row.service);
      if (!id) continue;
      const needed = force || row.state !== "ok";
      const base: ServiceOutcome = { service: id.name, identity: id.name, result: "up-to-date", reason: "up-to-date", detail: row.reason, generationBefore: row.generation, generationAfter: row.generation, warnings: [] };
      if (!needed) {
        out.push(base);
        continue;
      }
      const reason = force ? "forced" : row.state === "missing" ? "no-certificate" : "due";
      if (dryRun) {
        out.push({ ...base, result: "planned", reason, generationAfter: 1 });
        continue;
      }
      const t0 = Date.now();
      try {
        const leaf = await issueLeaf(a, {
          identity: validateIdentity(id.name),
          dnsNames: id.dns.map(validateDnsName),
          uris: [spiffeIdFor({ trustDomain: a.trustDomain, identity: id.name }), ...id.uris],
          ttlSeconds: id.ttl ? parseDuration(id.ttl, `identities.${id.name}.ttl`) : Math.min(p.config.seconds.leafTtl, a.maxLeafTtlSeconds),
          ...(id.keyAlgorithm ? { keyAlgorithm: id.keyAlgorithm } : {}),
        });
        const dir = certDir(id.name);
        await writeFileAtomic(join(dir, "tls.key"), leaf.keyPem as string, { mode: 0o400 });
        await writeFileAtomic(join(dir, "tls.crt"), leaf.chainPem, { mode: 0o644 });
        await writeFileAtomic(join(dir, "ca.crt"), bundlePem(a), { mode: 0o644 });
        p.metrics.certificatesIssued(leaf.keyAlgorithm);
        p.metrics.rotation("rotated", (Date.now() - t0) / 1000);
        p.metrics.setLeafExpiry(id.name, leaf.notAfter);
        audit.info({ trigger, identity: id.name, serial: leaf.serial, fingerprint: leaf.fingerprint, result: "rotated" }, "certificate issued");
        out.push({ ...base, result: "rotated", reason, generationAfter: 1, serial: leaf.serial, notAfter: leaf.notAfter.toISOString() });
      } catch (e) {
        p.metrics.rotation("failed");
        out.push({ ...base, result: "failed", reason, error: (e as Error).message });
      }
    }
    return out;
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

  // Automatic CA rotation (swarm mode): an intermediate with less than ca.rotateBefore of its life left is rotated,
  // one phase per reconcile, and a rotation in progress (started by `rotate-ca --step` or a crash) is carried on.
  const advanceCaRotation = async (trigger: string): Promise<void> => {
    const swarm = p.swarm;
    if (!swarm) return;
    const a = await load();
    const record = readCaRotationRecord(a);
    const inProgress = record !== null && record.phase !== "complete";
    const due = intermediateRotationDue({ notBefore: a.intermediate.cert.notBefore, notAfter: a.intermediate.cert.notAfter, now: new Date(), rotateBefore: p.config.ca.rotateBefore });
    if (!inProgress && !due) return;
    const kek = await readKekFile(p.kekFile);
    const deps = { swarm, store: p.store, kek, config: p.config, logger: p.logger, observer };
    const report = await oneAtATime(() =>
      withLease(swarm, { ttlSeconds: p.config.seconds.leaseTtl, name: p.config.rotation.leaseName, logger: p.logger }, (signal) => rotateCa(deps, { oneStep: true, trigger, signal })),
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
    async ready() {
      try {
        await load();
        if (p.swarm) await p.swarm.info();
        return { ready: true };
      } catch (e) {
        return { ready: false, reason: (e as Error).message };
      }
    },
    bundlePem: async () => bundlePem(await ca()),
    caInfo: async () => describeAuthority(await ca()),
    listServices: async () => (await listRows()).map(toApiStatus),
    getService: async (identity) => toApiStatus(await findRow(identity)),
    async rotate(identity, req, actor) {
      const services = identity === null ? undefined : [(await findRow(identity)).service];
      return (await runRotate(services, req.force === true, req.dryRun === true, `api:${actor}`)).map(toApiOutcome);
    },
    async envoyBootstrap(identity) {
      if (!p.swarm) throw new MtlsError("not-found", "Envoy bootstraps are served in swarm mode (services with mtls.envoy=true)");
      const fleet = await gatherFleet(p.swarm, await ca(), p.config, { force: false, now: new Date() });
      const e = fleet.entries.find((x) => x.identity?.identity === identity);
      if (!e) throw new MtlsError("not-found", `no managed service with identity '${identity}'`);
      if (!e.envoy) throw new MtlsError("not-found", `service ${e.service.name} has no Envoy sidecar (label ${p.config.labelPrefix}envoy=true)`);
      return e.envoy.yaml;
    },
    async signCsr(req, actor) {
      const a = await ca();
      const identity = validateIdentity(req.identity);
      const dnsNames = (req.dnsNames ?? []).map(validateDnsName);
      if (req.ttlSeconds !== undefined && req.ttlSeconds > a.maxLeafTtlSeconds) {
        throw badInput(`ttl ${req.ttlSeconds}s is over the CA maximum of ${a.maxLeafTtlSeconds}s`);
      }
      const leaf = await signCsr(a, {
        csrPem: req.csrPem,
        identity,
        dnsNames,
        uris: [spiffeIdFor({ trustDomain: a.trustDomain, identity })],
        ttlSeconds: req.ttlSeconds ?? Math.min(p.config.seconds.leafTtl, a.maxLeafTtlSeconds),
      });
      p.metrics.certificatesIssued(leaf.keyAlgorithm);
      audit.info({ trigger: `api:${actor}`, identity, serial: leaf.serial, fingerprint: leaf.fingerprint, result: "signed" }, "CSR signed");
      return { chainPem: leaf.chainPem, serial: leaf.serial, notAfter: leaf.notAfter.toISOString(), bundlePem: bundlePem(a) };
    },
    async reconcile(r) {
      try {
        const outcomes = await runRotate(r.services, false, false, r.trigger);
        const failed = outcomes.filter((o) => o.result === "failed" || o.result === "invalid");
        for (const o of failed) log.warn({ service: o.service, error: o.error }, "service not reconciled");
        await listRows().catch(() => undefined); // refresh expiry gauges
        if (failed.length === 0) p.metrics.reconcileSucceeded(new Date());
        log.info({ trigger: r.trigger, services: outcomes.length, changed: outcomes.filter((o) => o.result === "rotated" || o.result === "reattached").length, failed: failed.length }, "reconcile done");
        await advanceCaRotation(r.trigger).catch((e: unknown) => {
          if (e instanceof MtlsError && e.code === "lease-held") log.info({ trigger: r.trigger }, e.message);
          else log.warn({ trigger: r.trigger, err: (e as Error).message }, "CA rotation step did not finish; retried on the next reconcile");
        });
      } catch (e) {
        if (e instanceof MtlsError && e.code === "lease-held") log.info({ trigger: r.trigger }, e.message);
        else log.error({ trigger: r.trigger, err: (e as Error).message }, "reconcile failed");
      }
    },
  };
}

/**
 * `rotate-ca`: replaces the intermediate (or the root and the intermediate) in four resumable steps, each ending in a
 * CA-state write, so that no valid peer is ever rejected:
 *   prepare → new CA certificates (and a cross certificate for a root rotation), kept sealed in the rotation record;
 *   trust   → bundle with old + new roots rolled to every service (root rotation; nothing to do for an intermediate);
 *   issue   → the new intermediate issues; every leaf is re-issued (a normal rollout, concurrency respected);
 *   retire  → once no service mounts a leaf of the old CA: bundle without the old root; old CA certificates retired.
 * A step first publishes the authority it needs (idempotent), then reconciles every service with the ordinary
 * rollout engine, then checks the fleet, and only then records its phase. Runs under the caller's lease.
 */
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import {
  bundlePem,
  caKeyAlgorithm,
  certFingerprint,
  createIntermediateCa,
  createRootCa,
  crossSignRoot,
  sealAuthority,
  type Authority,
  type CaKeyPair,
} from "../ca/index.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load-config.js";
import { badInput, MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaStore } from "../store/ca-store.js";
import { openStoredAuthority } from "../store/open-ca-state.js";
import type { Swarm } from "../swarm/swarm.js";
import {
  advanceCaRotationRecord,
  newCaRotationRecord,
  openCaRotation,
  readCaRotationRecord,
  readRetiredCas,
  withCaRotationRecord,
  type CaRotation,
  type CaRotationKind,
  type CaRotationPhase,
  type CaRotationRecord,
  type RetiredCa,
} from "./ca-rotation-record.js";
import {
  authorityForStep,
  authorityShape,
  caRotationProgress,
  caRotationStepsToRun,
  nextCaRotationStep,
  phaseAfter,
  stepAfter,
  type CaRotationProgress,
  type CaRotationServiceView,
  type CaRotationStep,
} from "./ca-rotation-phase.js";
import { gatherFleet, issuerFingerprint, sha256Hex, type Fleet } from "./fleet.js";
import { pruneBundles, rotate, type RotateParams, type RotationObserver, type ServiceOutcome } from "./rollout.js";

export interface CaRotationDeps {
  swarm: Swarm;
  store: CaStore;
  /** The key-encryption key (opens and seals the CA keys). Never logged. */
  kek: Uint8Array;
  config: Config;
  logger: Logger;
  now: Clock;
  observer?: RotationObserver;
}

export interface CaRotateParams {
  /** What a new rotation replaces; default "intermediate". Ignored while a rotation is in progress (it is resumed). */
  kind?: CaRotationKind;
  /** Run only the next step; default false (every remaining step in a row). */
  oneStep?: boolean;
  /** Say which steps would run and change nothing; default false. */
  dryRun?: boolean;
  /** Services rolled at once; default config rotation.concurrency. */
  concurrency?: number;
  /** Upper bound per service rollout, seconds; default config rotation.timeout. */
  timeoutSeconds?: number;
  /** Who asked, for the audit trail; default "cli". */
  trigger?: string;
  /** Aborts between services and steps (lease lost, SIGTERM). */
  signal?: AbortSignal;
  /** Test hook: called after a step's phase is written (crash injection). */
  afterPhase?: (phase: CaRotationPhase) => Promise<void> | void;
  /** Test hook: called after each step of a service's rollout within a CA rotation step (crash injection between services). */
  afterRollout?: (step: CaRotationStep, rolloutStep: Parameters<NonNullable<RotateParams["afterStep"]>>[0], service: string) => Promise<void> | void;
}

/** What one step did. */
export interface CaRotationStepReport {
  step: CaRotationStep;
  /** Phase reached. */
  phase: CaRotationPhase;
  /** Services the step's rollout changed (rotated or re-attached). */
  changed: { service: string; result: ServiceOutcome["result"]; reason: string; generationAfter: number | null }[];
  progress: CaRotationProgress;
}

/** What an operator sees of a CA rotation (`status`, `GET /v1/ca`, `rotate-ca`). */
export interface CaRotationStatus {
  id: string;
  kind: CaRotationKind;
  phase: CaRotationPhase;
  /** The step that runs next, or "complete". */
  next: CaRotationStep | "complete";
  startedAt: string;
  history: { phase: CaRotationPhase; at: string }[];
  fingerprints: { oldIntermediate: string; newIntermediate: string; oldRoot?: string; newRoot?: string; cross?: string };
  /** Present when the fleet was looked at. */
  progress?: CaRotationProgress;
  retired: number;
}

export interface CaRotationReport {
  dryRun: boolean;
  /** Steps run (or, with dryRun, that would run), in order. */
  steps: CaRotationStep[];
  finished: CaRotationStepReport[];
  /** What comes next: a step, or "complete". */
  next: CaRotationStep | "complete";
  rotation: CaRotationStatus | null;
}

/** The status of a rotation record (progress added when the fleet is given). Pure. */
export function caRotationStatus(a: Authority, record: CaRotationRecord | null, services?: CaRotationServiceView[]): CaRotationStatus | null {
  if (!record) return null;
  const fpOf = (pem: string): string => sha256Hex(new Uint8Array(new NodeX509Certificate(pem).raw));
  const newIntermediate = fpOf(record.newIntermediate.certPem);
  const step = nextCaRotationStep(record);
  const status: CaRotationStatus = {
    id: record.id,
    kind: record.kind,
    phase: record.phase,
    next: record.phase === "complete" ? "complete" : step,
    startedAt: record.startedAt,
    history: record.history,
    fingerprints: {
      oldIntermediate: record.oldIntermediate.fingerprint,
      newIntermediate,
      ...(record.oldRoot ? { oldRoot: record.oldRoot } : {}),
      ...(record.newRoot ? { newRoot: fpOf(record.newRoot.certPem) } : {}),
      ...(record.crossCertPem ? { cross: fpOf(record.crossCertPem) } : {}),
    },
    retired: readRetiredCas(a).filter((x) => x.rotationId === record.id).length,
  };
  if (services) status.progress = caRotationProgress(services, newIntermediate, record.phase === "complete" ? "retire" : step);
  return status;
}

/** Reads the managed services of a fleet as the rotation sees them. */
export function caRotationServices(fleet: Fleet): CaRotationServiceView[] {
  return fleet.entries
    .filter((e) => e.identity)
    .map((e) => {
      const g = e.generations.find((x) => x.generation === e.attached?.generation);
      // An SDS-mode service's bootstrap `ca.crt` that still verifies the SDS listener counts as there (bootstrap-trust.ts).
      const bundleCurrent = e.bundleOk === true;
      const issuerLasting = e.identity?.sds === true && g !== undefined && fleet.lastingIssuers.has(g.issuer);
      return { service: e.service.name, issuer: g?.issuer ?? null, bundleCurrent, issuerLasting };
    });
}

/** The root that signed the intermediate (by name and signature). */
function signerOf(a: Authority): CaKeyPair | undefined {
  const int = new NodeX509Certificate(a.intermediate.certPem);
  return a.roots.find((r) => {
    const root = new NodeX509Certificate(r.certPem);
    return int.checkIssued(root) && int.verify(root.publicKey);
  });
}

async function loadAuthority(deps: CaRotationDeps): Promise<Authority> {
  const a = await openStoredAuthority(deps.store, deps.kek, deps.logger);
  if (a === null) throw new MtlsError("no-ca", `no CA in ${deps.store.location}: run \`swarm-mtls init\` first`);
  return a;
}

async function save(deps: CaRotationDeps, a: Authority): Promise<void> {
  await deps.store.writeCaState(sealAuthority(a, deps.kek), { replace: true });
}

/** Makes the new CA certificates and records them (phase prepared). The old root's key must be online. */
async function prepare(deps: CaRotationDeps, a: Authority, kind: CaRotationKind, now: Date): Promise<Authority> {
  const oldRoot = signerOf(a);
  if (!oldRoot) throw new MtlsError("internal", "the intermediate is not signed by any trusted root");
  if (oldRoot.privateKey === undefined) {
    throw badInput(
      `the root key is offline (root ${certFingerprint(oldRoot).slice(0, 16)}): rotate-ca signs the new ${kind === "root" ? "cross certificate" : "intermediate"} with it; restore a CA state with the root key online, rotate, then take it offline again`,
    );
  }
  const name = a.name;
  const keyAlgorithm = caKeyAlgorithm(a.intermediate);
  const cfg = deps.config.seconds;
  let newRoot: CaKeyPair | undefined;
  let cross: CaKeyPair | undefined;
  let signer = oldRoot;
  if (kind === "root") {
    newRoot = await createRootCa({ name, keyAlgorithm: caKeyAlgorithm(oldRoot), ttlSeconds: cfg.rootTtl, now, keepSubjectOf: oldRoot });
    cross = await crossSignRoot({ root: newRoot, signer: oldRoot, now });
    signer = newRoot;
  }
  const newIntermediate = await createIntermediateCa({ name, keyAlgorithm, ttlSeconds: cfg.intermediateTtl, signer, now });
  const record = newCaRotationRecord({ kind, oldIntermediate: a.intermediate, oldRoot: kind === "root" ? oldRoot : undefined, newIntermediate, newRoot, cross, kek: deps.kek, now });
  const next = withCaRotationRecord(a, record);
  await save(deps, next);
  deps.logger.child({ component: "ca-rotation" }).info({ rotation: record.id, kind, newIntermediate: certFingerprint(newIntermediate), newRoot: newRoot ? certFingerprint(newRoot) : undefined }, "CA rotation prepared");
  return next;
}

/** Rolls every managed service with `a`, then checks the fleet; throws naming the services that did not get there. */
async function rollAndCheck(deps: CaRotationDeps, a: Authority, r: CaRotation, step: CaRotationStep, p: CaRotateParams): Promise<{ changed: CaRotationStepReport["changed"]; progress: CaRotationProgress }> {
  const report = await rotate(
    { swarm: deps.swarm, authority: a, config: deps.config, logger: deps.logger, now: deps.now, observer: deps.observer },
    { concurrency: p.concurrency, timeoutSeconds: p.timeoutSeconds, trigger: p.trigger ?? "cli", signal: p.signal, afterStep: p.afterRollout ? (rs, service) => p.afterRollout?.(step, rs, service) : undefined },
  );
  const failed = report.outcomes.filter((o) => o.result === "failed");
  const changed = report.outcomes
    .filter((o) => o.result === "rotated" || o.result === "reattached")
    .map((o) => ({ service: o.service, result: o.result, reason: o.reason, generationAfter: o.generationAfter }));
  const fleet = await gatherFleet(deps.swarm, a, deps.config, { force: false, now: deps.now() });
  const progress = caRotationProgress(caRotationServices(fleet), certFingerprint(r.newIntermediate), step);
  if (failed.length > 0 || progress.pending.length > 0) {
    const why = failed.length > 0 ? failed.map((o) => `${o.service} (${o.error ?? o.reason})`).join("; ") : `not yet on the ${step === "issue" ? "new intermediate" : "new trust bundle"}: ${progress.pending.join(", ")}`;
    throw new MtlsError("rollout-failed", `CA rotation step '${step}' could not finish: ${why}; run rotate-ca again to resume`);
  }
  // A run killed after its last service converged left the superseded bundles: the resumed run has no service to
  // roll (so the rollout prunes nothing), and would otherwise leave them behind for good.
  await pruneBundles(deps.swarm, deps.config.rotation.keepPrevious, fleet.bundle.secret?.id ?? null, deps.config.caStateName);
  return { changed, progress };
}

/**
 * After 'complete' is written: the superseded CA states still hold the retired keys (sealed), so they are removed.
 * The rotation is already recorded complete, so a failure here is logged with the manual command and does not fail
 * the run (a failed run would make the operator start a new rotation by running rotate-ca again).
 */
async function dropRetiredKeys(deps: CaRotationDeps, rotation: string): Promise<void> {
  if (!deps.store.dropOlderCaStates) return;
  const log = deps.logger.child({ component: "ca-rotation" });
  try {
    const dropped = await deps.store.dropOlderCaStates();
    log.info({ rotation, dropped }, "CA rotation: older CA-state versions holding the retired keys removed");
  } catch (e) {
    log.warn({ rotation, err: (e as Error).message }, "CA rotation complete, but older CA-state versions still holding the retired keys could not be removed: remove every CA-state config but the newest with `docker config rm`");
  }
}

/** Runs one step from the state in the store; returns its report. */
async function runStep(deps: CaRotationDeps, step: CaRotationStep, p: CaRotateParams): Promise<CaRotationStepReport> {
  const now = deps.now();
  const log = deps.logger.child({ component: "ca-rotation" });
  let a = await loadAuthority(deps);
  const current = readCaRotationRecord(a);
  if (nextCaRotationStep(current) !== step) throw new MtlsError("internal", `CA rotation: expected step ${nextCaRotationStep(current)}, not ${step}`);
  if (step === "prepare") {
    a = await prepare(deps, a, p.kind ?? "intermediate", now);
    const rec = readCaRotationRecord(a) as CaRotationRecord;
    const fleet = await gatherFleet(deps.swarm, a, deps.config, { force: false, now });
    return { step, phase: rec.phase, changed: [], progress: caRotationProgress(caRotationServices(fleet), sha256Hex(new Uint8Array(new NodeX509Certificate(rec.newIntermediate.certPem).raw)), "trust") };
  }
  const r = openCaRotation(current as CaRotationRecord, deps.kek);
  if (step === "retire") {
    // Nothing is taken away while a service still mounts a leaf of the old CA.
    const fleet = await gatherFleet(deps.swarm, a, deps.config, { force: false, now });
    const views = caRotationServices(fleet);
    const old = views.filter((s) => s.issuer !== certFingerprint(r.newIntermediate) && s.issuerLasting !== true).map((s) => s.service);
    if (old.length > 0) throw new MtlsError("rollout-failed", `CA rotation step 'retire' could not finish: still on a leaf of the old CA: ${old.join(", ")}; run rotate-ca again to resume`);
  }
  const published = authorityForStep(a, r, step);
  if (authorityShape(published) !== authorityShape(a)) {
    await save(deps, published);
    log.info({ rotation: r.record.id, step, bundle: sha256Hex(bundlePem(published)).slice(0, 16), issuer: issuerFingerprint(published).slice(0, 16) }, "CA rotation: authority published");
  }
  const { changed, progress } = await rollAndCheck(deps, published, r, step, p);
  const phase = phaseAfter(step);
  const record = advanceCaRotationRecord(r.record, phase, now);
  let retired: RetiredCa[] | undefined;
  if (step === "retire") {
    const at = now.toISOString();
    retired = [...readRetiredCas(published), { role: "intermediate", certPem: r.record.oldIntermediate.certPem, fingerprint: r.record.oldIntermediate.fingerprint, retiredAt: at, rotationId: r.record.id }];
    // From the record: a run killed after the authority without the old root was written no longer has it in `a`.
    const oldRootPem = r.record.oldRoot ? (r.record.oldRootCertPem ?? a.roots.find((x) => certFingerprint(x) === r.record.oldRoot)?.certPem) : undefined;
    if (oldRootPem && r.record.oldRoot) retired.push({ role: "root", certPem: oldRootPem, fingerprint: r.record.oldRoot, retiredAt: at, rotationId: r.record.id });
  }
  await save(deps, withCaRotationRecord(published, record, retired));
  if (step === "retire") await dropRetiredKeys(deps, r.record.id);
  log.info({ rotation: r.record.id, step, phase, services: progress.total }, "CA rotation step finished");
  return { step, phase, changed, progress };
}

/**
 * Runs the remaining steps of the CA rotation (or only the next with `oneStep`), starting one when none is in
 * progress. Call it under the rotation lease. Throws MtlsError("rollout-failed") naming the services a step waits
 * for; the phase reached so far is kept, and the next run resumes there.
 */
export async function rotateCa(deps: CaRotationDeps, p: CaRotateParams = {}): Promise<CaRotationReport> {
  if (p.kind !== undefined && p.kind !== "intermediate" && p.kind !== "root") throw badInput(`rotation kind '${String(p.kind)}' must be intermediate or root`);
  const start = await loadAuthority(deps);
  const record = readCaRotationRecord(start);
  if (p.kind === "root" && record && record.phase !== "complete" && record.kind !== "root") {
    throw badInput(`an intermediate rotation (${record.id}) is in progress at phase ${record.phase}: finish it with \`rotate-ca\` before rotating the root`);
  }
  const steps = caRotationStepsToRun(record, p.oneStep === true);
  if (p.dryRun) {
    return { dryRun: true, steps, finished: [], next: steps[0] ?? "complete", rotation: caRotationStatus(start, record) };
  }
  const finished: CaRotationStepReport[] = [];
  for (const step of steps) {
    if (p.signal?.aborted) throw p.signal.reason instanceof Error ? p.signal.reason : new MtlsError("lease-held", "interrupted");
    finished.push(await runStep(deps, step, p));
    await p.afterPhase?.(phaseAfter(step));
  }
  const end = await loadAuthority(deps);
  const last = finished[finished.length - 1];
  const status = caRotationStatus(end, readCaRotationRecord(end));
  if (status && last) status.progress = last.progress;
  return { dryRun: false, steps, finished, next: last ? stepAfter(last.step) : "complete", rotation: status };
}

import { hostname } from "node:os";
import { issueLeaf, type Authority } from "../ca/index.js";
import type { Config } from "../config/load-config.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import { isNameConflict } from "../swarm/docker-error.js";
import type { SecretReference, ServiceSpec } from "../swarm/docker-types.js";
import { certificateLabels, envoyConfigLabels, generationOf, identityObjectName, LABEL, managedLabels, sharedObjectName } from "../swarm/managed-labels.js";
import { patchServiceSecrets, type SecretAttachment } from "../swarm/patch-service-secrets.js";
import { patchServiceConfigs, type ConfigAttachment } from "../swarm/patch-service-configs.js";
import { rolloutDeadlineMs, rolloutSettleMs } from "../swarm/rollout-deadline.js";
import type { SecretRecord, ServiceRecord, Swarm } from "../swarm/swarm.js";
import { startFirstWithHostPorts, withStopFirstUpdates } from "../swarm/update-order.js";
import { updateServiceWithRetry } from "../swarm/update-service-with-retry.js";
import { waitForRollout } from "../swarm/wait-for-rollout.js";
import { PUBLIC_FILE_MODE } from "./attachments.js";
import { gatherFleet, issuerFingerprint, type Fleet, type FleetEntry } from "./fleet.js";
import { generationsToPrune, type PlanReason } from "./plan.js";
import type { ServiceIdentity } from "./service-identity.js";
import { auditRecord, writeAudit } from "./audit-record.js";

/** What happened to one service in a reconcile. */
export interface ServiceOutcome {
  service: string;
  identity: string | null;
  /** rotated = new certificate rolled out; reattached = existing generation/bundle mounted again; planned = dry run. */
  result: "rotated" | "reattached" | "up-to-date" | "planned" | "failed" | "invalid";
  reason: PlanReason | "invalid";
  detail: string;
  generationBefore: number | null;
  generationAfter: number | null;
  serial?: string;
  notAfter?: string;
  /** Said when the rollout was changed to stay safe (host ports with start-first → stop-first). */
  warnings: string[];
  error?: string;
  /** Milliseconds since the service's rollout started, per step. */
  timings?: { secretsCreated?: number; updateAccepted?: number; converged?: number };
}

export interface RotationReport {
  outcomes: ServiceOutcome[];
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  prunedSecrets: string[];
}

/** Progress of one service, for people watching a long run. */
export interface RolloutProgress {
  service: string;
  step: "issuing" | "updating" | "converging" | "rolling-back" | "done" | "failed";
  detail: string;
}

/** Hooks for metrics; all optional. */
export interface RotationObserver {
  issued?(keyAlgorithm: string): void;
  finished?(o: ServiceOutcome, seconds: number): void;
  progress?(p: RolloutProgress): void;
}

export interface RotationDeps {
  swarm: Swarm;
  authority: Authority;
  config: Config;
  logger: Logger;
  now?: () => Date;
  observer?: RotationObserver;
}

export interface RotateParams {
  /** Service names or ids; default every opted-in service. */
  services?: string[];
  force?: boolean;
  dryRun?: boolean;
  /** Services rolled at once; default config rotation.concurrency. */
  concurrency?: number;
  /** Upper bound per service, seconds; default config rotation.timeout. */
  timeoutSeconds?: number;
  /** Silently skip named services that are not opted in (Docker events name every service). Default false. */
  onlyOptedIn?: boolean;
  /** Who asked, for the audit trail: "cli", "schedule", "event", "api:<actor>". */
  trigger?: string;
  signal?: AbortSignal;
  /** Test hook: called after each step of a service's rollout (crash injection in reliability tests). */
  afterStep?: (step: "secrets-created" | "spec-updated" | "converging" | "converged", service: string) => Promise<void> | void;
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(runners);
}

function secretAttachments(want: ServiceIdentity, crt: SecretRecord, key: SecretRecord, bundle: SecretRecord): SecretAttachment[] {
  return [
    { secretId: crt.id, secretName: crt.name, target: want.targets.cert, uid: "0", gid: "0", mode: PUBLIC_FILE_MODE },
    { secretId: key.id, secretName: key.name, target: want.targets.key, uid: want.keyFile.uid, gid: want.keyFile.gid, mode: want.keyFile.mode },
    { secretId: bundle.id, secretName: bundle.name, target: want.targets.ca, uid: "0", gid: "0", mode: PUBLIC_FILE_MODE },
  ];
}

/** Ensures a bundle secret with exactly the CA's trust bundle exists; returns it. */
async function ensureBundle(swarm: Swarm, fleet: Fleet, caName: string): Promise<SecretRecord> {
  if (fleet.bundle.secret) return fleet.bundle.secret;
  const newest = fleet.secrets.bundles[0];
  let generation = (newest ? (generationOf(newest.labels) as number) : 0) + 1;
  let record: SecretRecord | null = null;
  // Bundle names are one sequence per swarm. When the name is taken, it is either the same bundle published a
  // moment ago by another rotator (use it) or another CA's bundle in the same swarm (take the next number).
  for (let attempt = 0; record === null; attempt++, generation++) {
    const name = sharedObjectName("bundle", generation);
    const labels = managedLabels("bundle", { [LABEL.generation]: generation, [LABEL.fingerprint]: fleet.bundle.fingerprint, [LABEL.ca]: caName });
    try {
      record = { id: await swarm.createSecret({ name, data: Buffer.from(fleet.bundle.pem), labels }), name, labels, version: 0 };
    } catch (err) {
      const theirs = isNameConflict(err) ? await swarm.findSecret(name) : null;
      if (!theirs || attempt >= 5) throw err;
      if (theirs.labels[LABEL.fingerprint] === fleet.bundle.fingerprint) record = theirs;
    }
  }
  fleet.bundle.secret = record;
  fleet.secrets.bundles.unshift(record);
  fleet.secrets.byId.set(record.id, record);
  return record;
}

/** Restores the managed secret references (and update order) of `before`, keeping anything else changed since. */
function restoreSpec(current: ServiceSpec, before: ServiceSpec): ServiceSpec {
  const spec = structuredClone(current);
  const secrets = before.TaskTemplate?.ContainerSpec?.Secrets;
  const configs = before.TaskTemplate?.ContainerSpec?.Configs;
  if (spec.TaskTemplate?.ContainerSpec) {
    if (secrets === undefined) delete spec.TaskTemplate.ContainerSpec.Secrets;
    else spec.TaskTemplate.ContainerSpec.Secrets = structuredClone(secrets);
    if (configs === undefined) delete spec.TaskTemplate.ContainerSpec.Configs;
    else spec.TaskTemplate.ContainerSpec.Configs = structuredClone(configs);
  }
  if (before.UpdateConfig === undefined) delete spec.UpdateConfig;
  else spec.UpdateConfig = structuredClone(before.UpdateConfig);
  return spec;
}

/**
 * Reconciles services: gather → plan → for each service that needs it, issue (or reuse) a generation, swap the
 * secret references in one `service update`, wait until every task runs with them, roll back on failure, prune.
 * Runs under the lease unless it is a dry run.
 */
export async function rotate(deps: RotationDeps, p: RotateParams = {}): Promise<RotationReport> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const log = deps.logger.child({ component: "rollout" });
  const fleet = await gatherFleet(deps.swarm, deps.authority, deps.config, { services: p.services, force: p.force === true, now: startedAt, onlyOptedIn: p.onlyOptedIn });
  const outcomes: ServiceOutcome[] = [];
  const pruned: string[] = [];

  for (const e of fleet.entries.filter((x) => !x.identity)) {
    outcomes.push({ service: e.service.name, identity: null, result: "invalid", reason: "invalid", detail: e.error ?? "invalid", generationBefore: null, generationAfter: null, warnings: [], error: e.error });
  }
  const work = fleet.entries.filter((e) => e.identity && e.verdict);
  if (p.dryRun) {
    for (const e of work) outcomes.push(plannedOutcome(e, true));
    return { outcomes, dryRun: true, startedAt: startedAt.toISOString(), finishedAt: now().toISOString(), prunedSecrets: [] };
  }

  const needsWork = work.filter((e) => e.verdict?.action !== "none");
  for (const e of work.filter((x) => x.verdict?.action === "none")) {
    outcomes.push(plannedOutcome(e, false));
    // A run that died between its update and its prune left superseded generations: prune them now (under the lease).
    const attached = e.attached?.generation;
    const gens = e.identity ? fleet.secrets.byIdentity.get(e.identity.identity)?.crt.size ?? 0 : 0;
    if (e.identity && attached != null && gens > 1 + deps.config.rotation.keepPrevious) await pruneGenerations(deps.swarm, fleet, e.identity.identity, attached, deps.config.rotation.keepPrevious, log);
  }
  if (needsWork.length > 0) {
    const bundle = await ensureBundle(deps.swarm, fleet, deps.config.caStateName);
    const concurrency = p.concurrency ?? deps.config.rotation.concurrency;
    await pool(needsWork, concurrency, async (e) => {
      if (p.signal?.aborted) {
        // Lease lost or interrupted: start no further rollout (the ones in flight finish or stop on their own).
        const why = p.signal.reason instanceof Error ? p.signal.reason.message : "interrupted";
        outcomes.push({ ...plannedOutcome(e, false), result: "failed", error: `not started: ${why}` });
        return;
      }
      const t0 = Date.now();
      const o = await rollOne(deps, fleet, e, bundle, p).catch((err: unknown): ServiceOutcome => {
        const message = err instanceof MtlsError ? err.message : `unexpected: ${(err as Error)?.message}`;
        return { ...plannedOutcome(e, false), result: "failed", error: message };
      });
      outcomes.push(o);
      deps.observer?.finished?.(o, (Date.now() - t0) / 1000);
      deps.observer?.progress?.({ service: o.service, step: o.result === "failed" ? "failed" : "done", detail: o.error ?? o.detail });
      const done = o.result !== "failed" && o.identity !== null && o.generationAfter !== null;
      const crtSecret = done ? fleet.secrets.byIdentity.get(o.identity as string)?.crt.get(o.generationAfter as number) ?? (await deps.swarm.findSecret(identityObjectName(o.identity as string, "crt", o.generationAfter as number)).catch(() => null)) : null;
      writeAudit(deps.logger, auditRecord({ event: o.result === "reattached" ? "reattach" : "rotate", trigger: p.trigger ?? "cli", identity: o.identity, service: o.service, serial: o.serial, fingerprint: crtSecret?.labels[LABEL.fingerprint], generationFrom: o.generationBefore, generationTo: done ? o.generationAfter : o.generationBefore, result: o.result === "failed" ? "failed" : "ok", error: o.error }));
    });
    pruned.push(...(await pruneBundles(deps.swarm, deps.config.rotation.keepPrevious, fleet.bundle.secret?.id ?? null, deps.config.caStateName)));
  }
  log.debug({ services: outcomes.length }, "reconcile finished");
  const order = new Map(fleet.entries.map((e, i) => [e.service.name, i]));
  outcomes.sort((a, b) => (order.get(a.service) ?? 0) - (order.get(b.service) ?? 0));
  return { outcomes, dryRun: false, startedAt: startedAt.toISOString(), finishedAt: now().toISOString(), prunedSecrets: pruned };
}

function plannedOutcome(e: FleetEntry, dryRun: boolean): ServiceOutcome {
  const v = e.verdict;
  const gen = e.attached?.generation ?? null;
  const after = !v ? gen : v.action === "issue" ? Math.max(0, ...e.generations.map((g) => g.generation)) + 1 : v.action === "attach" ? v.generation : gen;
  return {
    service: e.service.name,
    identity: e.identity?.identity ?? null,
    result: v?.action === "none" ? "up-to-date" : dryRun ? "planned" : "failed",
    reason: v?.reason ?? "invalid",
    detail: v?.detail ?? e.error ?? "",
    generationBefore: gen,
    generationAfter: after,
    warnings: e.identity && startFirstWithHostPorts(e.service.spec) && v?.action !== "none" ? [HOST_PORT_WARNING] : [],
  };
}

const HOST_PORT_WARNING = "publishes a host-mode port with update order start-first: the new task could not bind the port while the old one holds it; rolling out stop-first instead (expect a short gap on this node)";

async function rollOne(deps: RotationDeps, fleet: Fleet, e: FleetEntry, bundle: SecretRecord, p: RotateParams): Promise<ServiceOutcome> {
  const { swarm, authority, config } = deps;
  const want = e.identity as ServiceIdentity;
  const verdict = e.verdict as NonNullable<FleetEntry["verdict"]>;
  const name = e.service.name;
  const progress = (step: RolloutProgress["step"], detail: string) => deps.observer?.progress?.({ service: name, step, detail });
  const log = deps.logger.child({ component: "rollout", identity: want.identity, service: name });
  const base = plannedOutcome(e, false);
  const t0 = Date.now();
  const timings: NonNullable<ServiceOutcome["timings"]> = {};
  const created: SecretRecord[] = [];
  const mine = fleet.secrets.byIdentity.get(want.identity);

  let generation: number;
  let crt: SecretRecord;
  let key: SecretRecord;
  let serial: string | undefined;
  let notAfter: string | undefined;
  if (verdict.action === "issue") {
    // The lease's signal: a holder that lost its lease (or could not renew it in time) issues nothing more.
    p.signal?.throwIfAborted();
    progress("issuing", verdict.detail);
    generation = Math.max(0, ...e.generations.map((g) => g.generation), ...fleet.secrets.byIdentity.get(want.identity)?.crt.keys() ?? []) + 1;
    const leaf = await issueLeaf(authority, {
      identity: want.identity,
      dnsNames: want.dnsNames,
      uris: [want.spiffeId],
      ttlSeconds: want.ttlSeconds,
      keyAlgorithm: want.keyAlgorithm,
      now: deps.now?.(),
    });
    deps.observer?.issued?.(leaf.keyAlgorithm);
    serial = leaf.serial;
    notAfter = leaf.notAfter.toISOString();
    const labels = certificateLabels({
      identity: want.identity,
      generation,
      serial: leaf.serial,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      fingerprint: leaf.fingerprint,
      issuer: issuerFingerprint(authority),
      profile: want.profile,
    });
    const crtName = identityObjectName(want.identity, "crt", generation);
    const keyName = identityObjectName(want.identity, "key", generation);
    const crtLabels = managedLabels("crt", labels);
    crt = { id: await swarm.createSecret({ name: crtName, data: Buffer.from(leaf.chainPem), labels: crtLabels }), name: crtName, labels: crtLabels, version: 0 };
    created.push(crt);
    try {
      const keyLabels = managedLabels("key", labels);
      key = { id: await swarm.createSecret({ name: keyName, data: Buffer.from(leaf.keyPem as string), labels: keyLabels }), name: keyName, labels: keyLabels, version: 0 };
      created.push(key);
    } catch (err) {
      await swarm.removeSecret(crt.id).catch(() => undefined);
      throw err;
    }
    timings.secretsCreated = Date.now() - t0;
    log.info({ generation, serial: leaf.serial, notAfter }, "certificate issued");
    await p.afterStep?.("secrets-created", name);
  } else if (verdict.action === "attach") {
    generation = verdict.generation;
    const c = mine?.crt.get(generation);
    const k = mine?.key.get(generation);
    if (!c || !k) throw new MtlsError("internal", `generation ${generation} of ${want.identity} is incomplete`);
    crt = c;
    key = k;
    serial = c.labels[LABEL.serial];
    notAfter = c.labels[LABEL.notAfter];
  } else {
    return base;
  }

  const attachments = secretAttachments(want, crt, key, bundle);
  const envoy = e.envoy ? await ensureEnvoyConfig(swarm, fleet, want.identity, e.envoy, crt.labels) : null;
  const configAttachments: ConfigAttachment[] = envoy && e.envoy ? [{ configId: envoy.id, configName: envoy.name, target: e.envoy.target, uid: want.keyFile.uid, gid: want.keyFile.gid, mode: 0o444 }] : [];
  const ourConfig = (ref: { ConfigID?: string }): boolean => !!ref.ConfigID && fleet.envoyConfigs.get(ref.ConfigID)?.labels[LABEL.identity] === want.identity;
  const ours = (ref: SecretReference): boolean => {
    const s = ref.SecretID ? fleet.secrets.byId.get(ref.SecretID) : undefined;
    if (!s) return false;
    const kind = s.labels[LABEL.kind];
    return kind === "bundle" || ((kind === "crt" || kind === "key") && s.labels[LABEL.identity] === want.identity);
  };
  const warnings: string[] = [];
  progress("updating", `generation ${e.attached?.generation ?? "-"} → ${generation}`);
  let update;
  try {
    p.signal?.throwIfAborted(); // no service update without the lease (the secrets made for it are removed below)
    update = await updateServiceWithRetry(swarm, e.service.id, (s: ServiceRecord) => {
      let spec = patchServiceSecrets(s.spec, { replace: attachments, remove: ours });
      spec = patchServiceConfigs(spec, { replace: configAttachments, remove: ourConfig });
      if (startFirstWithHostPorts(spec)) {
        spec = withStopFirstUpdates(spec);
        if (!warnings.includes(HOST_PORT_WARNING)) warnings.push(HOST_PORT_WARNING);
      }
      return spec;
    });
  } catch (err) {
    await removeSecrets(swarm, created);
    throw err;
  }
  if (warnings.length) log.warn({ warning: warnings[0] }, "update order changed for this rollout");
  timings.updateAccepted = Date.now() - t0;
  await p.afterStep?.("spec-updated", name);

  progress("converging", "waiting for every task to run with the new secrets");
  // An explicit --timeout is the operator's word. Otherwise the service's own UpdateConfig tells how long a rollout
  // takes on an idle engine; with several rollouts in flight the engine is shared, so scale by the concurrency.
  const concurrency = Math.max(1, p.concurrency ?? config.rotation.concurrency);
  const deadlineMs =
    p.timeoutSeconds !== undefined
      ? p.timeoutSeconds * 1000
      : Math.min(config.seconds.rotationTimeout * 1000, rolloutDeadlineMs(update.before.spec) * concurrency);
  let midway = false;
  const reading = await waitForRollout(swarm, {
    serviceId: e.service.id,
    fromVersion: update.updatedFromVersion,
    expectSecretIds: attachments.map((a) => a.secretId),
    expectConfigIds: configAttachments.map((a) => a.configId),
    settleMs: rolloutSettleMs(update.before.spec),
    deadlineMs,
    signal: p.signal,
    onProgress: (r) => {
      progress("converging", `${r.runningNew}/${r.desired} tasks on generation ${generation}${r.reason ? ` (${r.reason})` : ""}`);
      // Test hook, once: some tasks already run the new secrets while others still run the old ones.
      if (!midway && r.runningNew >= 1 && r.old >= 1) {
        midway = true;
        void Promise.resolve(p.afterStep?.("converging", name)).catch(() => undefined);
      }
    },
  });
  if (reading.state !== "converged") {
    const why = reading.timedOut ? `did not converge within ${Math.round(deadlineMs / 1000)}s (${reading.reason ?? "tasks pending"})` : reading.reason ?? "rollout failed";
    progress("rolling-back", why);
    log.warn({ reason: why }, "rollout failed; rolling back");
    await rollBack(swarm, e.service.id, update.before, deadlineMs, p.signal);
    await removeSecrets(swarm, created);
    if (envoy?.created) await swarm.removeConfig(envoy.id).catch(() => undefined);
    return { ...base, result: "failed", error: `rolled back: ${why}`, generationAfter: e.attached?.generation ?? null, warnings, timings };
  }
  timings.converged = Date.now() - t0;
  if (warnings.includes(HOST_PORT_WARNING)) await restoreUpdateOrder(swarm, e.service.id, update.before.spec).catch((err: unknown) => log.warn({ err: (err as Error).message }, "could not restore the update order"));
  await p.afterStep?.("converged", name);

  // Without the lease, prune nothing: the next holder prunes what was superseded (see the verdict "none" path).
  if (!p.signal?.aborted) {
    await pruneGenerations(swarm, fleet, want.identity, generation, config.rotation.keepPrevious, log);
    await pruneEnvoyConfigs(swarm, fleet, want.identity, envoy?.id ?? null, config.rotation.keepPrevious);
  }
  return {
    ...base,
    result: verdict.action === "issue" ? "rotated" : "reattached",
    generationAfter: generation,
    serial,
    notAfter,
    warnings,
    timings,
  };
}

/**
 * Deletes the identity's superseded generations nobody references (keeps `keepPrevious` below `generation` for
 * rollback). Also run for up-to-date services: a run that died after its update left the older ones behind.
 */
async function pruneGenerations(swarm: Swarm, fleet: Fleet, identity: string, generation: number, keepPrevious: number, log: RotationDeps["logger"]): Promise<void> {
  const mine = fleet.secrets.byIdentity.get(identity);
  const referenced = new Set<number>();
  const services = await swarm.listServices();
  for (const s of services) {
    for (const ref of s.secretRefs) {
      const sec = ref.SecretID ? fleet.secrets.byId.get(ref.SecretID) : undefined;
      if (sec && sec.labels[LABEL.identity] === identity) referenced.add(generationOf(sec.labels) as number);
    }
  }
  const allGens = new Set<number>([...(mine?.crt.keys() ?? []), ...(mine?.key.keys() ?? []), generation]);
  const prune = generationsToPrune({ generations: [...allGens], attached: generation, keepPrevious, referenced });
  for (const g of prune) {
    for (const s of [mine?.crt.get(g), mine?.key.get(g)]) if (s) await swarm.removeSecret(s.id).catch((err: unknown) => log.warn({ secret: s.name, err: (err as Error).message }, "could not prune"));
  }
}

/** Finds the managed Envoy config with exactly this content for the identity, or creates the next version. */
async function ensureEnvoyConfig(swarm: Swarm, fleet: Fleet, identity: string, want: { yaml: string; fingerprint: string }, crtLabels: Record<string, string>): Promise<{ id: string; name: string; created: boolean }> {
  const mine = [...fleet.envoyConfigs.values()].filter((c) => c.labels[LABEL.identity] === identity);
  const same = mine.find((c) => c.labels[LABEL.fingerprint] === want.fingerprint);
  if (same) return { id: same.id, name: same.name, created: false };
  const generation = Math.max(0, ...mine.map((c) => generationOf(c.labels) ?? 0)) + 1;
  const name = identityObjectName(identity, "envoy", generation);
  const labels = envoyConfigLabels(crtLabels, { identity, generation, fingerprint: want.fingerprint });
  const id = await swarm.createConfig({ name, data: Buffer.from(want.yaml), labels });
  fleet.envoyConfigs.set(id, { id, name, labels, version: 0, data: Buffer.from(want.yaml) });
  return { id, name, created: true };
}

/** Removes an identity's superseded Envoy configs that no service mounts (keeping `keep` older ones). */
async function pruneEnvoyConfigs(swarm: Swarm, fleet: Fleet, identity: string, currentId: string | null, keep: number): Promise<void> {
  const services = await swarm.listServices();
  const referenced = new Set(services.flatMap((s) => s.configRefs.map((r) => r.ConfigID)));
  const older = [...fleet.envoyConfigs.values()]
    .filter((c) => c.labels[LABEL.identity] === identity && c.id !== currentId)
    .sort((a, b) => (generationOf(b.labels) ?? 0) - (generationOf(a.labels) ?? 0));
  for (const c of older.slice(currentId ? keep : 0)) {
    if (referenced.has(c.id)) continue;
    await swarm.removeConfig(c.id).catch(() => undefined);
    fleet.envoyConfigs.delete(c.id);
  }
}

async function rollBack(swarm: Swarm, serviceId: string, before: ServiceRecord, deadlineMs: number, signal?: AbortSignal): Promise<void> {
  const r = await updateServiceWithRetry(swarm, serviceId, (s) => restoreSpec(s.spec, before.spec));
  const oldIds = (before.spec.TaskTemplate?.ContainerSpec?.Secrets ?? []).map((x) => x.SecretID).filter((x): x is string => !!x);
  await waitForRollout(swarm, { serviceId, fromVersion: r.updatedFromVersion, expectSecretIds: oldIds, deadlineMs, signal }).catch(() => undefined);
}

/**
 * Gives the operator's update order back after a rollout that had to run stop-first: the spec keeps every field
 * but the secret references. An UpdateConfig-only change starts no task.
 */
async function restoreUpdateOrder(swarm: Swarm, serviceId: string, before: ServiceSpec): Promise<void> {
  await updateServiceWithRetry(swarm, serviceId, (s) => {
    const order = before.UpdateConfig?.Order;
    if (!s.spec.UpdateConfig || s.spec.UpdateConfig.Order === order) return null;
    const spec = structuredClone(s.spec);
    if (order === undefined) delete spec.UpdateConfig?.Order;
    else if (spec.UpdateConfig) spec.UpdateConfig.Order = order;
    return spec;
  });
}

async function removeSecrets(swarm: Swarm, secrets: SecretRecord[]): Promise<void> {
  for (const s of secrets) await swarm.removeSecret(s.id).catch(() => undefined);
}

/** Removes this CA's trust bundles that no service references, keeping the current one and `keep` older ones. */
export async function pruneBundles(swarm: Swarm, keep: number, currentId: string | null, caName: string): Promise<string[]> {
  const [services, bundles] = await Promise.all([swarm.listServices(), swarm.listSecrets({ label: [`${LABEL.managed}=true`, `${LABEL.kind}=bundle`] })]);
  const referenced = new Set(services.flatMap((s) => s.secretRefs.map((r) => r.SecretID)));
  const older = bundles
    .filter((b) => b.id !== currentId && generationOf(b.labels) !== null && (b.labels[LABEL.ca] ?? caName) === caName)
    .sort((a, b) => (generationOf(b.labels) as number) - (generationOf(a.labels) as number));
  const removed: string[] = [];
  for (const b of older.slice(keep)) {
    if (referenced.has(b.id)) continue;
    await swarm.removeSecret(b.id).catch(() => undefined);
    removed.push(b.name);
  }
  return removed;
}

/** Owner string for the lease: who holds it, for the "another rotation is running" message. */
export function leaseOwner(): string {
  return `${hostname()}:${process.pid}`;
}

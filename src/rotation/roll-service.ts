/**
 * One service's rollout, in its named steps: issue (or reuse) a generation → update the service's references once →
 * wait until every task runs with them → finish (prune) or undo (roll back, remove what this run created).
 */
import { issueLeaf } from "../ca/index.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { SecretReference, ServiceSpec } from "../swarm/docker-types.js";
import { certificateLabels, identityObjectName, LABEL, managedLabels } from "../swarm/managed-labels.js";
import { patchServiceSecrets, type SecretAttachment } from "../swarm/patch-service-secrets.js";
import { patchServiceConfigs, type ConfigAttachment } from "../swarm/patch-service-configs.js";
import { rolloutDeadlineMs, rolloutSettleMs } from "../swarm/rollout-deadline.js";
import type { SecretRecord, ServiceRecord, Swarm } from "../swarm/swarm.js";
import { startFirstWithHostPorts, withStopFirstUpdates } from "../swarm/update-order.js";
import { updateServiceWithRetry } from "../swarm/update-service-with-retry.js";
import { waitForRollout } from "../swarm/wait-for-rollout.js";
import { PUBLIC_FILE_MODE } from "./attachments.js";
import { issuerFingerprint, type Fleet, type FleetEntry } from "./fleet.js";
import type { ServiceIdentity } from "./service-identity.js";
import { rolloutCost } from "./rollout-cost.js";
import { type RotateParams, type RotationDeps, type RolloutProgress, type ServiceOutcome } from "./rollout.js";
import { ensureEnvoyConfig, pruneEnvoyConfigs, pruneGenerations, removeSecrets } from "./managed-objects.js";

function secretAttachments(want: ServiceIdentity, crt: SecretRecord, key: SecretRecord, bundle: SecretRecord): SecretAttachment[] {
  return [
    { secretId: crt.id, secretName: crt.name, target: want.targets.cert, uid: "0", gid: "0", mode: PUBLIC_FILE_MODE },
    { secretId: key.id, secretName: key.name, target: want.targets.key, uid: want.keyFile.uid, gid: want.keyFile.gid, mode: want.keyFile.mode },
    { secretId: bundle.id, secretName: bundle.name, target: want.targets.ca, uid: "0", gid: "0", mode: PUBLIC_FILE_MODE },
  ];
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

export function plannedOutcome(e: FleetEntry, dryRun: boolean): ServiceOutcome {
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

export const HOST_PORT_WARNING = "publishes a host-mode port with update order start-first: the new task could not bind the port while the old one holds it; rolling out stop-first instead (expect a short gap on this node)";

/** The generation a service is rolled to: its secrets, and those this run created (removed again on failure). */
interface RolloutGeneration {
  generation: number;
  crt: SecretRecord;
  key: SecretRecord;
  serial?: string;
  notAfter?: string;
  fingerprint?: string;
  created: SecretRecord[];
}

/** Step 1 (issue): a new key and certificate, published as the `crt` and `key` secrets of the next generation. */
async function issueGeneration(deps: RotationDeps, fleet: Fleet, e: FleetEntry, want: ServiceIdentity, log: Logger): Promise<RolloutGeneration> {
  const { swarm, authority } = deps;
  const generation = Math.max(0, ...e.generations.map((g) => g.generation), ...(fleet.secrets.byIdentity.get(want.identity)?.crt.keys() ?? [])) + 1;
  const leaf = await issueLeaf(authority, { identity: want.identity, dnsNames: want.dnsNames, uris: [want.spiffeId], ttlSeconds: want.ttlSeconds, keyAlgorithm: want.keyAlgorithm, now: deps.now() });
  deps.observer?.issued?.(leaf.keyAlgorithm);
  const labels = certificateLabels({ identity: want.identity, generation, serial: leaf.serial, notBefore: leaf.notBefore, notAfter: leaf.notAfter, fingerprint: leaf.fingerprint, issuer: issuerFingerprint(authority), profile: want.profile });
  const crtName = identityObjectName(want.identity, "crt", generation);
  const keyName = identityObjectName(want.identity, "key", generation);
  const crtLabels = managedLabels("crt", labels);
  const crt: SecretRecord = { id: await swarm.createSecret({ name: crtName, data: Buffer.from(leaf.chainPem), labels: crtLabels }), name: crtName, labels: crtLabels, version: 0 };
  let key: SecretRecord;
  try {
    const keyLabels = managedLabels("key", labels);
    key = { id: await swarm.createSecret({ name: keyName, data: Buffer.from(leaf.keyPem as string), labels: keyLabels }), name: keyName, labels: keyLabels, version: 0 };
  } catch (err) {
    await removeSecrets(swarm, [crt], log);
    throw err;
  }
  const notAfter = leaf.notAfter.toISOString();
  log.info({ generation, serial: leaf.serial, notAfter }, "certificate issued");
  return { generation, crt, key, serial: leaf.serial, notAfter, fingerprint: leaf.fingerprint, created: [crt, key] };
}

/** Step 1 (attach): an existing complete generation, as its secrets' labels describe it. */
function existingGeneration(fleet: Fleet, want: ServiceIdentity, generation: number): RolloutGeneration {
  const mine = fleet.secrets.byIdentity.get(want.identity);
  const crt = mine?.crt.get(generation);
  const key = mine?.key.get(generation);
  if (!crt || !key) throw new MtlsError("internal", `generation ${generation} of ${want.identity} is incomplete`);
  return { generation, crt, key, serial: crt.labels[LABEL.serial], notAfter: crt.labels[LABEL.notAfter], fingerprint: crt.labels[LABEL.fingerprint], created: [] };
}

/** What step 2 sent: the service before, the references wanted, the Envoy config mounted, warnings said. */
interface SentUpdate {
  update: Awaited<ReturnType<typeof updateServiceWithRetry>>;
  attachments: SecretAttachment[];
  configAttachments: ConfigAttachment[];
  envoy: { id: string; name: string; created: boolean } | null;
  warnings: string[];
}

/**
 * Step 2: one `service update` that swaps only our secret references (and the Envoy config), stop-first when a
 * host-mode port would make start-first impossible. On failure the secrets this run created are removed.
 */
async function updateServiceSecrets(deps: RotationDeps, fleet: Fleet, e: FleetEntry, want: ServiceIdentity, gen: RolloutGeneration, bundle: SecretRecord, log: Logger, signal?: AbortSignal): Promise<SentUpdate> {
  const { swarm } = deps;
  const attachments = secretAttachments(want, gen.crt, gen.key, bundle);
  const envoy = e.envoy ? await ensureEnvoyConfig(swarm, fleet, want.identity, e.envoy, gen.crt.labels) : null;
  const configAttachments: ConfigAttachment[] = envoy && e.envoy ? [{ configId: envoy.id, configName: envoy.name, target: e.envoy.target, uid: want.keyFile.uid, gid: want.keyFile.gid, mode: 0o444 }] : [];
  const ourConfig = (ref: { ConfigID?: string }): boolean => !!ref.ConfigID && fleet.envoyConfigs.get(ref.ConfigID)?.labels[LABEL.identity] === want.identity;
  const ours = (ref: SecretReference): boolean => {
    const s = ref.SecretID ? fleet.secrets.byId.get(ref.SecretID) : undefined;
    const kind = s?.labels[LABEL.kind];
    return kind === "bundle" || ((kind === "crt" || kind === "key") && s?.labels[LABEL.identity] === want.identity);
  };
  const warnings: string[] = [];
  try {
    signal?.throwIfAborted(); // no service update without the lease (the secrets made for it are removed below)
    const update = await updateServiceWithRetry(swarm, e.service.id, (s: ServiceRecord) => {
      let spec = patchServiceSecrets(s.spec, { replace: attachments, remove: ours });
      spec = patchServiceConfigs(spec, { replace: configAttachments, remove: ourConfig });
      if (!startFirstWithHostPorts(spec)) return spec;
      if (!warnings.includes(HOST_PORT_WARNING)) warnings.push(HOST_PORT_WARNING);
      return withStopFirstUpdates(spec);
    });
    if (warnings.length) log.warn({ warning: warnings[0] }, "update order changed for this rollout");
    return { update, attachments, configAttachments, envoy, warnings };
  } catch (err) {
    await removeSecrets(swarm, gen.created, log);
    throw err;
  }
}

/**
 * Step 3: waits until every task runs with the new references. An explicit --timeout is the operator's word;
 * otherwise the service's own UpdateConfig tells how long a rollout takes on an idle engine, scaled by the
 * concurrency (the engine is shared by the rollouts in flight).
 */
async function awaitConvergence(deps: RotationDeps, e: FleetEntry, sent: SentUpdate, generation: number, p: RotateParams, progress: (detail: string) => void) {
  const concurrency = Math.max(1, p.concurrency ?? deps.config.rotation.concurrency);
  const before = sent.update.before.spec;
  const deadlineMs = p.timeoutSeconds !== undefined ? p.timeoutSeconds * 1000 : Math.min(deps.config.seconds.rotationTimeout * 1000, rolloutDeadlineMs(before) * concurrency);
  // No task to replace (replicas: 0 when the update was sent): the accepted update is the whole rollout.
  if (rolloutCost(before) === "spec-only") return { reading: { state: "converged" as const, runningNew: 0, desired: 0, old: 0, timedOut: false, polls: 0 }, deadlineMs };
  let midway = false;
  const reading = await waitForRollout(deps.swarm, {
    now: () => deps.now().getTime(),
    serviceId: e.service.id,
    fromVersion: sent.update.updatedFromVersion,
    expectSecretIds: sent.attachments.map((a) => a.secretId),
    expectConfigIds: sent.configAttachments.map((a) => a.configId),
    settleMs: rolloutSettleMs(before),
    deadlineMs,
    signal: p.signal,
    onProgress: (r) => {
      progress(`${r.runningNew}/${r.desired} tasks on generation ${generation}${r.reason ? ` (${r.reason})` : ""}`);
      // Test hook, once: some tasks already run the new secrets while others still run the old ones. Its failure is
      // the test's own business (a crash hook kills the process); the rollout does not wait for it.
      if (!midway && r.runningNew >= 1 && r.old >= 1) {
        midway = true;
        void Promise.resolve(p.afterStep?.("converging", e.service.name)).catch(() => undefined);
      }
    },
  });
  return { reading, deadlineMs };
}

/** Step 4 (failure): the service back on its previous references; what this run created removed. */
async function undoRollout(deps: RotationDeps, e: FleetEntry, gen: RolloutGeneration, sent: SentUpdate, deadlineMs: number, p: RotateParams, log: Logger): Promise<void> {
  await rollBack(deps.swarm, e.service.id, sent.update.before, { deadlineMs, now: () => deps.now().getTime() }, log, p.signal);
  await removeSecrets(deps.swarm, gen.created, log);
  if (sent.envoy?.created) await deps.swarm.removeConfig(sent.envoy.id).catch((err: unknown) => log.warn({ config: sent.envoy?.name, err: (err as Error).message }, "could not remove the Envoy config of the rolled-back generation"));
}

/** Step 4 (success): superseded generations and Envoy configs pruned. */
async function finishRollout(deps: RotationDeps, fleet: Fleet, want: ServiceIdentity, generation: number, sent: SentUpdate, log: Logger): Promise<void> {
  const keep = deps.config.rotation.keepPrevious;
  await pruneGenerations(deps.swarm, fleet, want.identity, generation, keep, log);
  await pruneEnvoyConfigs(deps.swarm, fleet, want.identity, sent.envoy?.id ?? null, keep, log);
}

/** Rolls one service to the generation its verdict asks for: issue or reuse → update → converge → finish or undo. */
export async function rollOne(deps: RotationDeps, fleet: Fleet, e: FleetEntry, bundle: SecretRecord, p: RotateParams): Promise<ServiceOutcome> {
  const want = e.identity as ServiceIdentity;
  const verdict = e.verdict as NonNullable<FleetEntry["verdict"]>;
  const name = e.service.name;
  const progress = (step: RolloutProgress["step"], detail: string) => deps.observer?.progress?.({ service: name, step, detail });
  const log = deps.logger.child({ component: "rollout", identity: want.identity, service: name });
  const base = plannedOutcome(e, false);
  if (verdict.action === "none") return base;
  const now = deps.now;
  const t0 = now().getTime();
  const since = () => now().getTime() - t0;
  const timings: NonNullable<ServiceOutcome["timings"]> = {};

  if (verdict.action === "issue") {
    // The lease's signal: a holder that lost its lease (or could not renew it in time) issues nothing more.
    p.signal?.throwIfAborted();
    progress("issuing", verdict.detail);
  }
  const gen = verdict.action === "issue" ? await issueGeneration(deps, fleet, e, want, log) : existingGeneration(fleet, want, verdict.generation);
  if (verdict.action === "issue") {
    timings.secretsCreated = since();
    await p.afterStep?.("secrets-created", name);
  }
  progress("updating", `generation ${e.attached?.generation ?? "-"} → ${gen.generation}`);
  const sent = await updateServiceSecrets(deps, fleet, e, want, gen, bundle, log, p.signal);
  timings.updateAccepted = since();
  await p.afterStep?.("spec-updated", name);

  progress("converging", "waiting for every task to run with the new secrets");
  const { reading, deadlineMs } = await awaitConvergence(deps, e, sent, gen.generation, p, (detail) => progress("converging", detail));
  if (reading.state !== "converged") {
    const why = reading.timedOut ? `did not converge within ${Math.round(deadlineMs / 1000)}s (${reading.reason ?? "tasks pending"})` : reading.reason ?? "rollout failed";
    progress("rolling-back", why);
    log.warn({ reason: why }, "rollout failed; rolling back");
    await undoRollout(deps, e, gen, sent, deadlineMs, p, log);
    return { ...base, result: "failed", error: `rolled back: ${why}`, generationAfter: e.attached?.generation ?? null, warnings: sent.warnings, timings };
  }
  timings.converged = since();
  // The operator's update order back (a rollout that had to run stop-first), before anything else can stop us.
  if (sent.warnings.includes(HOST_PORT_WARNING)) await restoreUpdateOrder(deps.swarm, e.service.id, sent.update.before.spec).catch((err: unknown) => log.warn({ err: (err as Error).message }, "could not restore the update order"));
  await p.afterStep?.("converged", name);
  // Without the lease, prune nothing: the next holder prunes what was superseded (see the verdict "none" path).
  if (!p.signal?.aborted) await finishRollout(deps, fleet, want, gen.generation, sent, log);
  const facts = { ...(gen.serial ? { serial: gen.serial } : {}), ...(gen.notAfter ? { notAfter: gen.notAfter } : {}), ...(gen.fingerprint ? { fingerprint: gen.fingerprint } : {}) };
  return { ...base, result: verdict.action === "issue" ? "rotated" : "reattached", generationAfter: gen.generation, ...facts, warnings: sent.warnings, timings };
}

/**
 * Puts the service back on the references it had and waits for it (bounded). A rollback that does not converge is
 * logged and left to Swarm: the outcome is already "failed", and the next reconcile sees where the service stands.
 */
async function rollBack(swarm: Swarm, serviceId: string, before: ServiceRecord, within: { deadlineMs: number; now: () => number }, log: Logger, signal?: AbortSignal): Promise<void> {
  const r = await updateServiceWithRetry(swarm, serviceId, (s) => restoreSpec(s.spec, before.spec));
  const oldIds = (before.spec.TaskTemplate?.ContainerSpec?.Secrets ?? []).map((x) => x.SecretID).filter((x): x is string => !!x);
  const reading = await waitForRollout(swarm, { serviceId, fromVersion: r.updatedFromVersion, expectSecretIds: oldIds, ...within, signal }).catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, "could not follow the rollback; the next reconcile sees where the service stands");
    return null;
  });
  if (reading && reading.state !== "converged") log.warn({ reason: reading.reason ?? (reading.timedOut ? "timed out" : "pending") }, "the rollback has not converged yet; Swarm carries on with it");
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


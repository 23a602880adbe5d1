/**
 * Embedded mode's act: carries out the planner's verdict on the file store. `issue` writes a new generation
 * directory and makes it current; `attach` makes an existing generation current with today's trust bundle; both
 * write the Envoy bootstrap the config asks for. One audit record per change or failure, as in swarm mode.
 */
import { bundlePem, issueLeaf, type Authority } from "../ca/index.js";
import type { Config } from "../config/load-config.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import { attachGeneration, publishGeneration, replaceBundle, writeEnvoyYaml } from "../store/embedded-files.js";
import { certificateLabels, managedLabels } from "../swarm/managed-labels.js";
import { auditRecord, writeAudit } from "./audit-record.js";
import { gatherEmbeddedFleet, type EmbeddedEntry, type EmbeddedWant } from "./embedded-fleet.js";
import { issuerFingerprint } from "./fleet.js";
import type { RotationObserver, ServiceOutcome } from "./rollout.js";

export interface EmbeddedRotateDeps {
  dataDir: string;
  authority: Authority;
  config: Config;
  logger: Logger;
  observer?: RotationObserver;
  now: () => Date;
}

export interface EmbeddedRotateParams {
  /** Identity names; default every configured identity. */
  identities?: string[];
  force: boolean;
  dryRun: boolean;
  /** Who asked, for the audit trail. */
  trigger: string;
}

/** The outcome before anything is done: what the planner said, generations unchanged. Pure. */
function plannedOutcome(e: EmbeddedEntry): ServiceOutcome {
  const v = e.verdict;
  return {
    service: e.identity,
    identity: e.identity,
    result: v ? (v.action === "none" ? "up-to-date" : "planned") : "invalid",
    reason: v?.reason ?? "invalid",
    detail: v?.detail ?? e.error ?? "",
    generationBefore: e.current || null,
    generationAfter: !v || v.action === "none" ? e.current || null : v.action === "attach" ? v.generation : Math.max(e.current, ...e.generations.map((g) => g.generation)) + 1,
    warnings: [],
  };
}

/** Issues a certificate for `want` and writes it as a new current generation; returns the new generation. */
async function issueInto(deps: EmbeddedRotateDeps, e: EmbeddedEntry, want: EmbeddedWant): Promise<{ generation: number; serial: string; fingerprint: string; notAfter: Date }> {
  const a = deps.authority;
  const leaf = await issueLeaf(a, { identity: want.identity, dnsNames: want.dnsNames, uris: want.uris, ttlSeconds: want.ttlSeconds, keyAlgorithm: want.keyAlgorithm, now: deps.now() });
  deps.observer?.issued?.(leaf.keyAlgorithm);
  const next = Math.max(e.current, ...e.generations.map((g) => g.generation)) + 1;
  const labels = managedLabels("crt", certificateLabels({ identity: want.identity, generation: next, serial: leaf.serial, notBefore: leaf.notBefore, notAfter: leaf.notAfter, fingerprint: leaf.fingerprint, issuer: issuerFingerprint(a), profile: want.profile }));
  const gen = await publishGeneration({ dir: e.dir, files: { "tls.key": leaf.keyPem as string, "tls.crt": leaf.chainPem, "ca.crt": bundlePem(a) }, labels, keepPrevious: deps.config.rotation.keepPrevious });
  return { generation: gen.to, serial: leaf.serial, fingerprint: leaf.fingerprint, notAfter: leaf.notAfter };
}

/** Makes an existing generation current with today's trust bundle. */
async function attachInto(e: EmbeddedEntry, generation: number, bundle: string): Promise<void> {
  if (generation !== e.current) await attachGeneration(e.dir, generation);
  if (!(generation === e.current && e.bundleCurrent)) await replaceBundle(e.dir, generation, bundle);
}

/** Carries out one identity's verdict; never throws (a failure is the outcome). */
async function actOn(deps: EmbeddedRotateDeps, e: EmbeddedEntry, bundle: string, trigger: string): Promise<ServiceOutcome> {
  const base = plannedOutcome(e);
  const v = e.verdict;
  const audit = (o: ServiceOutcome, facts: { serial?: string | null; fingerprint?: string | null }) =>
    writeAudit(deps.logger, auditRecord({ event: o.result === "reattached" ? "reattach" : "rotate", trigger, identity: e.identity, service: e.identity, serial: facts.serial, fingerprint: facts.fingerprint, generationFrom: o.generationBefore, generationTo: o.result === "failed" ? o.generationBefore : o.generationAfter, result: o.result === "failed" ? "failed" : "ok", ...(o.error ? { error: o.error } : {}) }));
  if (!v || !e.want) {
    const o: ServiceOutcome = { ...base, result: "failed", error: e.error ?? "invalid", generationAfter: base.generationBefore };
    deps.observer?.finished?.(o, 0); // counted as a failed rotation of this identity, as an invalid config is one
    audit(o, {});
    return o;
  }
  if (v.action === "none") return base;
  const t0 = deps.now().getTime();
  try {
    let o: ServiceOutcome;
    let facts: { serial?: string; fingerprint?: string } = {};
    if (v.action === "issue") {
      const done = await issueInto(deps, e, e.want);
      facts = done;
      o = { ...base, result: "rotated", generationAfter: done.generation, serial: done.serial, notAfter: done.notAfter.toISOString() };
    } else {
      await attachInto(e, v.generation, bundle);
      const g = e.generations.find((x) => x.generation === v.generation);
      facts = g ? { serial: g.serial, fingerprint: g.fingerprint } : {};
      o = { ...base, result: "reattached", generationAfter: v.generation, ...(g ? { serial: g.serial, notAfter: g.notAfter.toISOString() } : {}) };
    }
    if (e.want.envoyYaml !== null) await writeEnvoyYaml(e.dir, e.want.envoyYaml);
    deps.observer?.finished?.(o, (deps.now().getTime() - t0) / 1000);
    audit(o, facts);
    return o;
  } catch (err) {
    const error = err instanceof MtlsError ? err.message : `could not write the certificate files: ${(err as Error).message}`;
    const o: ServiceOutcome = { ...base, result: "failed", error, generationAfter: base.generationBefore };
    deps.observer?.finished?.(o, (deps.now().getTime() - t0) / 1000);
    audit(o, {});
    return o;
  }
}

/**
 * Reconciles the configured identities on the file store: gather → plan (the same planner as swarm mode) → act.
 * A dry run reports the plan and changes nothing.
 */
export async function rotateEmbedded(deps: EmbeddedRotateDeps, p: EmbeddedRotateParams): Promise<{ outcomes: ServiceOutcome[]; entries: EmbeddedEntry[] }> {
  const fleet = await gatherEmbeddedFleet({ dataDir: deps.dataDir, authority: deps.authority, config: deps.config, now: deps.now(), force: p.force, ...(p.identities ? { identities: p.identities } : {}) });
  const outcomes: ServiceOutcome[] = [];
  for (const e of fleet.entries) outcomes.push(p.dryRun ? plannedOutcome(e) : await actOn(deps, e, fleet.bundlePem, p.trigger));
  return { outcomes, entries: fleet.entries };
}

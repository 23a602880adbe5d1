/**
 * `swarm-mtls prune`: removes what swarm-mtls left in the swarm for identities no service uses any more (after
 * `docker stack rm`, or a service removed for good). The plan is a pure function of the listing; the removal goes
 * through the `Swarm` interface and reports, object by object, what went and what stayed and why.
 *
 * Not run by `serve` on its own: serve cannot tell a service removed for good from one being redeployed
 * (`docker stack rm` + `deploy`, a service re-created), and removing its generations would force a needless re-issue
 * and lose the rollback generation. Pruning orphans is the operator's decision.
 */
import { validateIdentity } from "../ca/index.js";
import { badInput, MtlsError } from "../errors.js";
import { DockerCallError } from "../swarm/docker-error.js";
import { generationOf, LABEL } from "../swarm/managed-labels.js";
import type { ConfigRecord, SecretRecord, ServiceRecord, Swarm } from "../swarm/swarm.js";
import { isOptedIn } from "./service-identity.js";

/** Which identities to look at. */
export interface PruneScope {
  /** Stacks whose identities go: `<stack>_<service>`, the default identity of a stack service. */
  stacks: string[];
  /** Identities by name (for services that set `mtls.identity`). */
  identities: string[];
  /** Every managed identity of the swarm that no service uses. */
  all: boolean;
}

export type PruneKind = "crt" | "key" | "envoy" | "bundle";

/** One managed object and what happens to it. */
export interface PruneItem {
  type: "secret" | "config";
  id: string;
  name: string;
  kind: PruneKind;
  /** null for trust bundles (shared by every identity of the CA). */
  identity: string | null;
  generation: number | null;
  action: "remove" | "keep";
  /** Why: `orphan`, `in use by service a, b`, `--keep-bundle`, … */
  why: string;
  /** Services that use the object or claim its identity (empty when none). */
  usedBy: string[];
}

export interface PrunePlanInput {
  scope: PruneScope;
  /** Every service of the swarm. */
  services: Pick<ServiceRecord, "name" | "labels" | "secretRefs" | "configRefs">[];
  /** Managed secrets (label io.swarm-mtls.managed=true). */
  secrets: Pick<SecretRecord, "id" | "name" | "labels">[];
  /** Managed configs. */
  configs: Pick<ConfigRecord, "id" | "name" | "labels">[];
  /** The CA's caStateName: only its trust bundles are considered. */
  caName: string;
  /** Label prefix of opted-in services (`mtls.`): an opted-in service claims its identity even with nothing mounted. */
  labelPrefix: string;
  keepBundle: boolean;
}

export interface PrunePlan {
  /** The identities in scope that have managed objects: orphan (removed) or in use (kept). */
  identities: { identity: string; usedBy: string[] }[];
  items: PruneItem[];
}

const STACK_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Checks the operator's scope; MtlsError("bad-input") naming the first problem. */
export function readPruneScope(o: { stack?: string[]; identity?: string[]; all?: boolean }): PruneScope {
  const stacks = o.stack ?? [];
  const identities = o.identity ?? [];
  const all = o.all === true;
  if (!all && stacks.length === 0 && identities.length === 0) throw badInput("say what to prune: --stack NAME, --identity ID (both repeatable), or --all");
  if (all && (stacks.length > 0 || identities.length > 0)) throw badInput("give --stack/--identity or --all, not both");
  for (const s of stacks) if (!STACK_RE.test(s)) throw badInput(`--stack: '${s}' is not a stack name`);
  for (const i of identities) validateIdentity(i);
  return { stacks, identities, all };
}

function inScope(identity: string, s: PruneScope): boolean {
  return s.all || s.identities.includes(identity) || s.stacks.some((st) => identity.startsWith(`${st.toLowerCase()}_`));
}

/** The identity an opted-in service claims (as `readServiceIdentity` names it), or null when its label is invalid. */
function claimedIdentity(service: PrunePlanInput["services"][number], prefix: string): string | null {
  if (!isOptedIn(service.labels, prefix)) return null;
  try {
    return validateIdentity(service.labels[`${prefix}identity`]?.trim() || service.name.toLowerCase());
  } catch {
    return null;
  }
}

const KINDS: readonly string[] = ["crt", "key", "envoy", "bundle"];

/**
 * Decides, object by object. Pure. An identity in scope is removed only when no service mounts any of its objects
 * and no opted-in service claims it (a service that lost its references to a redeploy is re-attached by serve, not
 * pruned); otherwise all its objects stay. The CA's trust bundles go only when no service mounts any of them (the CA
 * has no consumer left), and never with `keepBundle`. CA state, the KEK and the lease are never touched.
 */
export function planPrune(p: PrunePlanInput): PrunePlan {
  const secretUsers = new Map<string, string[]>();
  const configUsers = new Map<string, string[]>();
  const claims = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, k: string, v: string) => m.set(k, [...new Set([...(m.get(k) ?? []), v])].sort());
  for (const s of p.services) {
    for (const r of s.secretRefs) if (r.SecretID) add(secretUsers, r.SecretID, s.name);
    for (const r of s.configRefs) if (r.ConfigID) add(configUsers, r.ConfigID, s.name);
    const claimed = claimedIdentity(s, p.labelPrefix);
    if (claimed) add(claims, claimed, s.name);
  }

  type Obj = { type: "secret" | "config"; id: string; name: string; labels: Record<string, string>; kind: PruneKind };
  const objects: Obj[] = [
    ...p.secrets.map((s) => ({ ...s, type: "secret" as const, kind: s.labels[LABEL.kind] as PruneKind })),
    ...p.configs.map((c) => ({ ...c, type: "config" as const, kind: c.labels[LABEL.kind] as PruneKind })),
  ].filter((o) => o.labels[LABEL.managed] === "true" && KINDS.includes(o.kind) && (o.kind === "envoy") === (o.type === "config"));
  const usersOf = (o: Obj): string[] => (o.type === "secret" ? secretUsers : configUsers).get(o.id) ?? [];

  // Identity objects, grouped: an identity goes or stays as a whole.
  const byIdentity = new Map<string, Obj[]>();
  for (const o of objects) {
    if (o.kind === "bundle") continue;
    const identity = o.labels[LABEL.identity];
    if (!identity || !inScope(identity, p.scope)) continue;
    byIdentity.set(identity, [...(byIdentity.get(identity) ?? []), o]);
  }
  const items: PruneItem[] = [];
  const identities: PrunePlan["identities"] = [];
  for (const [identity, objs] of [...byIdentity].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const usedBy = [...new Set([...objs.flatMap(usersOf), ...(claims.get(identity) ?? [])])].sort();
    identities.push({ identity, usedBy });
    for (const o of objs) {
      const direct = usersOf(o);
      const why = usedBy.length === 0 ? "orphan: no service uses this identity"
        : direct.length > 0 ? `in use by service ${direct.join(", ")}`
        : `identity in use by service ${usedBy.join(", ")}`;
      items.push({ type: o.type, id: o.id, name: o.name, kind: o.kind, identity, generation: generationOf(o.labels), action: usedBy.length === 0 ? "remove" : "keep", why, usedBy });
    }
  }

  // This CA's trust bundles (an unlabelled bundle predates the label and counts as ours, as the rotation's own prune does).
  const bundles = objects.filter((o) => o.kind === "bundle" && generationOf(o.labels) !== null && (o.labels[LABEL.ca] ?? p.caName) === p.caName);
  const bundleUsers = [...new Set(bundles.flatMap(usersOf))].sort();
  for (const o of bundles) {
    const direct = usersOf(o);
    const action = p.keepBundle || bundleUsers.length > 0 ? "keep" : "remove";
    const why = p.keepBundle ? "--keep-bundle"
      : direct.length > 0 ? `in use by service ${direct.join(", ")}`
      : bundleUsers.length > 0 ? `the CA's trust bundle is still used by ${bundleUsers.length} service(s); rotation prunes old bundles`
      : "no service uses a trust bundle of this CA";
    items.push({ type: "secret", id: o.id, name: o.name, kind: "bundle", identity: null, generation: generationOf(o.labels), action, why, usedBy: direct });
  }

  const order: Record<PruneKind, number> = { envoy: 0, crt: 1, key: 2, bundle: 3 };
  const byName = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
  // Per identity (bundles last): Envoy config, certificate, key, by generation.
  items.sort((a, b) => Number(a.identity === null) - Number(b.identity === null) || byName(a.identity ?? "", b.identity ?? "") || order[a.kind] - order[b.kind] || (a.generation ?? 0) - (b.generation ?? 0));
  return { identities, items };
}

/** What became of one object. */
export interface PruneResult extends PruneItem {
  /** removed; planned (dry run); kept (the plan kept it); refused (Docker said it is in use); failed (another error). */
  result: "removed" | "planned" | "kept" | "refused" | "failed";
  error?: string;
}

export interface PruneReport {
  dryRun: boolean;
  scope: PruneScope;
  keepBundle: boolean;
  identities: PrunePlan["identities"];
  objects: PruneResult[];
  removed: number;
}

export interface PruneParams {
  scope: PruneScope;
  caName: string;
  labelPrefix: string;
  keepBundle: boolean;
  dryRun: boolean;
  /** Called before and after each removal (for people watching). */
  onProgress?: (r: PruneResult, phase: "removing" | "done") => void;
  /** The lease's signal: once aborted (lease lost or not renewed in time), no further object is removed. */
  signal?: AbortSignal;
}

const IN_USE = /in use by/i;

/** Lists the swarm, plans, and removes what the plan says (nothing with `dryRun`). Never throws for one object. */
export async function prune(swarm: Swarm, p: PruneParams): Promise<PruneReport> {
  const managed = { label: [`${LABEL.managed}=true`] };
  const [services, secrets, configs] = await Promise.all([swarm.listServices(), swarm.listSecrets(managed), swarm.listConfigs(managed)]);
  const plan = planPrune({ scope: p.scope, services, secrets, configs, caName: p.caName, labelPrefix: p.labelPrefix, keepBundle: p.keepBundle });
  const objects: PruneResult[] = [];
  for (const item of plan.items) {
    if (item.action === "keep") {
      objects.push({ ...item, result: "kept" });
      continue;
    }
    if (p.dryRun) {
      objects.push({ ...item, result: "planned" });
      continue;
    }
    if (p.signal?.aborted) {
      const why = p.signal.reason instanceof Error ? p.signal.reason.message : "interrupted";
      objects.push({ ...item, result: "failed", error: `not removed: ${why}` });
      continue;
    }
    const r: PruneResult = { ...item, result: "removed" };
    p.onProgress?.(r, "removing");
    try {
      if (item.type === "secret") await swarm.removeSecret(item.id);
      else await swarm.removeConfig(item.id);
    } catch (e) {
      // Docker refuses to remove a secret or config a service references: someone started using it after our listing.
      const engine = e instanceof MtlsError && e.cause instanceof DockerCallError ? e.cause.engineMessage : (e as Error).message;
      r.result = IN_USE.test(engine) ? "refused" : "failed";
      r.error = IN_USE.test(engine) ? `Docker refused: ${engine.replace(/^rpc error: code = \w+ desc = /, "")}` : (e as Error).message;
    }
    p.onProgress?.(r, "done");
    objects.push(r);
  }
  return { dryRun: p.dryRun, scope: p.scope, keepBundle: p.keepBundle, identities: plan.identities, objects, removed: objects.filter((o) => o.result === "removed").length };
}

/**
 * 0 when everything in scope is gone (or would go); 1 when something in scope stays because a service uses it, or
 * Docker refused or failed a removal. Bundles kept because other services still use them are not a failure.
 */
export function pruneExitCode(r: PruneReport): number {
  return r.objects.some((o) => o.result === "refused" || o.result === "failed" || (o.result === "kept" && o.kind !== "bundle")) ? 1 : 0;
}

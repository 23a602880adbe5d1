/**
 * The managed Docker objects a rollout creates and prunes: the trust bundle secret, an identity's certificate and key
 * secrets, its Envoy configs. Under the lease; a removal that fails is logged and retried by a later run.
 */
import type { Logger } from "../log.js";
import { isNameConflict } from "../swarm/docker-error.js";
import { envoyConfigLabels, generationOf, identityObjectName, LABEL, managedLabels, sharedObjectName } from "../swarm/managed-labels.js";
import type { SecretRecord, Swarm } from "../swarm/swarm.js";
import type { Fleet } from "./fleet.js";
import { generationsToPrune } from "./plan.js";

/** Ensures a bundle secret with exactly the CA's trust bundle exists; returns it. */
export async function ensureBundle(swarm: Swarm, fleet: Fleet, caName: string): Promise<SecretRecord> {
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

/** Finds the managed Envoy config with exactly this content for the identity, or creates the next version. */
export async function ensureEnvoyConfig(swarm: Swarm, fleet: Fleet, identity: string, want: { yaml: string; fingerprint: string }, crtLabels: Record<string, string>): Promise<{ id: string; name: string; created: boolean }> {
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

/**
 * Deletes the identity's superseded generations nobody references (keeps `keepPrevious` below `generation` for
 * rollback). Also run for up-to-date services: a run that died after its update left the older ones behind.
 * "Referenced" is read from the services the reconcile gathered, not listed again: a list of every service per
 * rollout made a cycle quadratic in the fleet. A secret mounted since then is still safe, as the engine refuses to
 * remove a secret a service uses (logged, left for the next prune).
 */
export async function pruneGenerations(swarm: Swarm, fleet: Fleet, identity: string, generation: number, keepPrevious: number, log: Logger): Promise<void> {
  const mine = fleet.secrets.byIdentity.get(identity);
  const allGens = new Set<number>([...(mine?.crt.keys() ?? []), ...(mine?.key.keys() ?? []), generation]);
  if (generationsToPrune({ generations: [...allGens], attached: generation, keepPrevious, referenced: new Set() }).length === 0) return;
  const referenced = new Set<number>();
  for (const s of fleet.allServices) {
    for (const ref of s.secretRefs) {
      const sec = ref.SecretID ? fleet.secrets.byId.get(ref.SecretID) : undefined;
      if (sec && sec.labels[LABEL.identity] === identity) referenced.add(generationOf(sec.labels) as number);
    }
  }
  const prune = generationsToPrune({ generations: [...allGens], attached: generation, keepPrevious, referenced });
  for (const g of prune) {
    for (const s of [mine?.crt.get(g), mine?.key.get(g)]) if (s) await swarm.removeSecret(s.id).catch((err: unknown) => log.warn({ secret: s.name, err: (err as Error).message }, "could not prune"));
  }
}

/** Removes an identity's superseded Envoy configs that no service mounts (keeping `keep` older ones). */
export async function pruneEnvoyConfigs(swarm: Swarm, fleet: Fleet, identity: string, currentId: string | null, keep: number, log: Logger): Promise<void> {
  const older = [...fleet.envoyConfigs.values()]
    .filter((c) => c.labels[LABEL.identity] === identity && c.id !== currentId)
    .sort((a, b) => (generationOf(b.labels) ?? 0) - (generationOf(a.labels) ?? 0));
  const candidates = older.slice(currentId ? keep : 0);
  if (candidates.length === 0) return; // no Envoy config to prune: no need to read every service
  const services = await swarm.listServices();
  const referenced = new Set(services.flatMap((s) => s.configRefs.map((r) => r.ConfigID)));
  for (const c of candidates) {
    if (referenced.has(c.id)) continue;
    const removed = await swarm.removeConfig(c.id).then(
      () => true,
      (err: unknown) => (log.warn({ config: c.name, err: (err as Error).message }, "could not prune an Envoy config"), false),
    );
    if (removed) fleet.envoyConfigs.delete(c.id);
  }
}

export async function removeSecrets(swarm: Swarm, secrets: SecretRecord[], log: Logger): Promise<void> {
  for (const s of secrets) await swarm.removeSecret(s.id).catch((err: unknown) => log.warn({ secret: s.name, err: (err as Error).message }, "could not remove a secret of the abandoned generation (prune removes it later)"));
}

/** Removes this CA's trust bundles that no service references, keeping the current one and `keep` older ones. */
export async function pruneBundles(swarm: Swarm, keep: number, currentId: string | null, caName: string, log?: Logger): Promise<string[]> {
  const [services, bundles] = await Promise.all([swarm.listServices(), swarm.listSecrets({ label: [`${LABEL.managed}=true`, `${LABEL.kind}=bundle`] })]);
  const referenced = new Set(services.flatMap((s) => s.secretRefs.map((r) => r.SecretID)));
  const older = bundles
    .filter((b) => b.id !== currentId && generationOf(b.labels) !== null && (b.labels[LABEL.ca] ?? caName) === caName)
    .sort((a, b) => (generationOf(b.labels) as number) - (generationOf(a.labels) as number));
  const removed: string[] = [];
  for (const b of older.slice(keep)) {
    if (referenced.has(b.id)) continue;
    // A bundle that cannot be removed now (just mounted by a service that started meanwhile) is tried again next time.
    const ok = await swarm.removeSecret(b.id).then(
      () => true,
      (err: unknown) => (log?.warn({ secret: b.name, err: (err as Error).message }, "could not prune a trust bundle"), false),
    );
    if (ok) removed.push(b.name);
  }
  return removed;
}


import { MtlsError } from "../errors.js";
import { generationOf, isManaged, kekId, LABEL, managedLabels } from "../swarm/managed-labels.js";
import type { ConfigRecord, Swarm } from "../swarm/swarm.js";
import { isNameConflict } from "../swarm/docker-error.js";
import type { CaStore } from "./ca-store.js";

/** Name of the secret that holds the key-encryption key; mounted only into the CA service. */
export const KEK_SECRET_NAME = "swarm-mtls-kek";
/** Where the KEK secret appears inside the CA's own container. */
export const KEK_MOUNT_PATH = `/run/secrets/${KEK_SECRET_NAME}`;
/** Default name stem of the CA-state configs: `mtls.ca-state.v<N>`. */
export const CA_STATE_NAME = "mtls.ca-state";
/** How many superseded CA-state versions stay in the swarm (for audit and manual rollback). */
const KEEP_CA_STATES = 3;

/** Names of the swarm store's objects; one swarm can hold several independent CAs under different names. */
export interface SwarmStoreOpenParams {
  /** Name stem of the CA-state configs (`<caStateName>.v<N>`); default "mtls.ca-state". */
  caStateName?: string;
  /** Name of the key-encryption key secret; default "swarm-mtls-kek". */
  kekSecretName?: string;
}

export interface SwarmStore extends CaStore {
  /** Name of the key-encryption key secret. */
  readonly kekSecretName: string;
  /** Creates the KEK secret from these bytes unless it exists; returns "created", "exists" or "mismatch". */
  ensureKekSecret(kek: Uint8Array): Promise<"created" | "exists" | "mismatch">;
  /** The CA-state configs, newest first (for backup, status and pruning). */
  caStateVersions(): Promise<ConfigRecord[]>;
}

/**
 * The swarm backend: CA state in versioned Docker configs `mtls.ca-state.v<N>` (every key inside encrypted under the
 * KEK), the KEK itself in the secret `swarm-mtls-kek`, a pending intermediate (`init --intermediate-csr`, key sealed
 * under the KEK) in the config `mtls.ca-state.pending` until its import. Configs are immutable, so a write is a new version; a
 * replacement CA task reads the newest and goes on where the last one stopped.
 */
/**
 * The names of one CA's state configs, `<caStateName>.v<N>`. Exact names only: another CA in the same swarm (another
 * caStateName), its pending intermediate and the lease are not its versions.
 */
export function caStateConfigPattern(caStateName: string): RegExp {
  return new RegExp(`^${caStateName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.v[1-9][0-9]*$`);
}

export function openSwarmStore(swarm: Swarm, p: SwarmStoreOpenParams = {}): SwarmStore {
  const stateName = p.caStateName ?? CA_STATE_NAME;
  const kekSecretName = p.kekSecretName ?? KEK_SECRET_NAME;
  /** `init --intermediate-csr`'s pending intermediate, until its import. */
  const pendingName = `${stateName}.pending`;
  const ours = caStateConfigPattern(stateName);
  const versions = async (): Promise<ConfigRecord[]> => {
    const all = await swarm.listConfigs({ label: [`${LABEL.managed}=true`, `${LABEL.kind}=ca-state`] });
    return all
      .filter((c) => isManaged(c.labels, "ca-state") && generationOf(c.labels) !== null && ours.test(c.name))
      .sort((a, b) => (generationOf(b.labels) as number) - (generationOf(a.labels) as number));
  };
  return {
    location: "swarm",
    kekSecretName,
    defaultKekFile: () => `/run/secrets/${kekSecretName}`,
    caStateVersions: versions,
    async dropOlderCaStates() {
      const older = (await versions()).slice(1);
      const left: string[] = [];
      for (const c of older) await swarm.removeConfig(c.id).catch((e: unknown) => left.push(`${c.name} (${(e as Error).message})`));
      if (left.length > 0) throw new MtlsError("internal", `could not remove the superseded CA states ${left.join(", ")}`);
      return older.map((c) => c.name);
    },
    async olderCaStates() {
      return (await versions()).slice(1).map((c) => c.data.toString("utf8"));
    },
    async readCaState() {
      const newest = (await versions())[0];
      return newest ? newest.data.toString("utf8") : null;
    },
    async writeCaState(doc, p) {
      const existing = await versions();
      if (existing.length > 0 && !p.replace) {
        throw new MtlsError("ca-exists", `a CA already exists in this swarm (config ${existing[0]?.name}); use --force to replace it`);
      }
      const generation = (existing[0] ? (generationOf(existing[0].labels) as number) : 0) + 1;
      const name = `${stateName}.v${generation}`;
      try {
        await swarm.createConfig({ name, data: Buffer.from(doc, "utf8"), labels: managedLabels("ca-state", { [LABEL.generation]: generation }) });
      } catch (e) {
        if (isNameConflict(e)) throw new MtlsError("lease-held", `CA state ${name} was written by someone else at the same moment; run the command again`, { cause: e });
        throw e;
      }
      for (const old of existing.slice(KEEP_CA_STATES - 1)) await swarm.removeConfig(old.id);
    },
    async readPendingIntermediate() {
      const found = await swarm.findConfig(pendingName);
      return found && isManaged(found.labels, "ca-pending") ? found.data.toString("utf8") : null;
    },
    async writePendingIntermediate(doc) {
      // Configs are immutable: the new one replaces the old under the same name.
      const old = await swarm.findConfig(pendingName);
      if (old) await swarm.removeConfig(old.id);
      try {
        await swarm.createConfig({ name: pendingName, data: Buffer.from(doc, "utf8"), labels: managedLabels("ca-pending") });
      } catch (e) {
        if (isNameConflict(e)) throw new MtlsError("lease-held", `${pendingName} was written by someone else at the same moment; run the command again`, { cause: e });
        throw e;
      }
    },
    async dropPendingIntermediate() {
      const found = await swarm.findConfig(pendingName);
      if (found) await swarm.removeConfig(found.id);
    },
    async ensureKekSecret(kek) {
      const id = kekId(kek);
      const found = await swarm.findSecret(kekSecretName);
      if (found) return found.labels[LABEL.kekId] === id ? "exists" : "mismatch";
      await swarm.createSecret({ name: kekSecretName, data: Buffer.from(Buffer.from(kek).toString("base64") + "\n"), labels: managedLabels("kek", { [LABEL.kekId]: id }) });
      return "created";
    },
  };
}

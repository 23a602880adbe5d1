import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { caStateVersion, describeAuthority, LEGACY_CA_STATE_VERSION, openAuthority, sealAuthority } from "../ca/index.js";
import { badInput, MtlsError } from "../errors.js";
import { writeFileAtomic } from "../store/atomic-write.js";
import type { CaStore } from "../store/ca-store.js";
import { readKekFile } from "../store/kek-file.js";
import { openStoredAuthority } from "../store/open-ca-state.js";
import type { SwarmStore } from "../store/swarm-store.js";
import type { CliContext } from "./context.js";

const BACKUP_FORMAT = "swarm-mtls/backup";

const isSwarmStore = (s: CaStore): s is SwarmStore => s.location === "swarm";

export interface BackupResult {
  /** "backup" or "restore". */
  action: "backup" | "restore";
  file: string;
  store: string;
  trustDomain: string;
  fingerprints: string[];
  /** The key-encryption key file that opens the backup. */
  kekFile: string;
  /** restore on the swarm store: the KEK secret the CA service mounts, and whether restore created it. */
  kekSecret?: { name: string; state: "created" | "exists" };
}

/** `backup --out FILE`: the CA state as stored (every key still encrypted under the KEK), checked to open first. */
export async function runBackup(ctx: CliContext, o: { out?: string }): Promise<BackupResult> {
  if (!o.out) throw badInput("--out FILE is required");
  const store = await ctx.store();
  if ((await store.readCaState()) === null) throw new MtlsError("no-ca", `no CA in ${store.location} to back up`);
  const kekFile = ctx.kekFile(store);
  const kek = await readKekFile(kekFile);
  // Verifies the state (and migrates one of the unauthenticated format first): a backup is always authenticated.
  const authority = await openStoredAuthority(store, kek, ctx.logger);
  const doc = await store.readCaState();
  if (authority === null || doc === null) throw new MtlsError("no-ca", `no CA in ${store.location} to back up`);
  await openAuthority(doc, kek);
  const file = resolve(o.out);
  const body = { format: BACKUP_FORMAT, version: 1, createdAt: new Date().toISOString(), from: store.location, caState: doc };
  await writeFileAtomic(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  return { action: "backup", file, store: store.location, trustDomain: authority.trustDomain, fingerprints: describeAuthority(authority).map((c) => c.fingerprint), kekFile };
}

/**
 * `restore FILE [--force] [--accept-unauthenticated]`: puts a backup back into the store, after checking the KEK
 * opens it and its MAC verifies (a state changed outside swarm-mtls is refused and the store left as it was). A backup
 * in the unauthenticated format of earlier versions is refused unless the operator accepts it; it is then re-sealed. On the swarm store it
 * also recreates the KEK secret the CA service mounts when it is missing (a new swarm after a disaster), and refuses
 * when the swarm's KEK secret holds another key (the CA service could not open the restored state).
 */
export async function runRestore(ctx: CliContext, file: string, o: { force?: boolean; acceptUnauthenticated?: boolean }): Promise<BackupResult> {
  const path = resolve(file);
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw badInput(`backup ${path}: cannot be read (${e.code})`);
  });
  let body: { format?: string; caState?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw badInput(`backup ${path}: not a swarm-mtls backup (not JSON)`);
  }
  if (body?.format !== BACKUP_FORMAT || typeof body.caState !== "string") throw badInput(`backup ${path}: not a swarm-mtls backup (format ${String(body?.format)})`);
  const store = await ctx.store();
  const kekFile = ctx.kekFile(store);
  const kek = await readKekFile(kekFile);
  const legacy = caStateVersion(body.caState) === LEGACY_CA_STATE_VERSION;
  if (legacy && !o.acceptUnauthenticated) {
    throw badInput(
      `backup ${path}: made by a swarm-mtls version that did not authenticate the CA state, so a change to its roots, trust domain or limits cannot be detected; check its root fingerprints (\`openssl x509 -fingerprint -sha256\` of each root in the backup) and restore with --accept-unauthenticated`,
    );
  }
  const authority = await openAuthority(body.caState, kek, { migrateLegacy: legacy });
  const doc = legacy ? sealAuthority(authority, kek) : body.caState;
  if (!o.force && (await store.readCaState()) !== null) {
    throw new MtlsError("ca-exists", `a CA already exists in ${store.location} (use --force to replace it with the backup)`);
  }
  let kekSecret: BackupResult["kekSecret"];
  if (isSwarmStore(store)) {
    const state = await store.ensureKekSecret(kek);
    if (state === "mismatch") {
      throw new MtlsError("kek", `the swarm already has a ${store.kekSecretName} secret made from another key than ${kekFile}; remove that secret (no service may mount it) or restore with the key it holds`);
    }
    kekSecret = { name: store.kekSecretName, state };
  }
  await store.writeCaState(doc, { replace: o.force === true });
  ctx.logger.warn({ component: "audit", store: store.location, trustDomain: authority.trustDomain }, "CA state restored from backup");
  return {
    action: "restore",
    file: path,
    store: store.location,
    trustDomain: authority.trustDomain,
    fingerprints: describeAuthority(authority).map((c) => c.fingerprint),
    kekFile,
    ...(kekSecret ? { kekSecret } : {}),
  };
}

/** Human output of backup and restore (main.ts passes the verb; the result says which it was). */
export const showBackup = (_verb: string) => (r: BackupResult): string => describeBackup(r);

function describeBackup(r: BackupResult): string {
  if (r.action === "backup") {
    return [
      `backed up the CA of ${r.trustDomain} (${r.store}) to ${r.file}`,
      `  certificates: ${r.fingerprints.join(", ")}`,
      `  the CA keys inside stay encrypted under the key-encryption key ${r.kekFile}: keep a copy of that key apart from the backup; restore needs both`,
    ].join("\n");
  }
  return [
    `restored the CA of ${r.trustDomain} into ${r.store} from ${r.file}`,
    `  certificates: ${r.fingerprints.join(", ")}`,
    `  opened with the key-encryption key ${r.kekFile}`,
    ...(r.kekSecret ? [`  key-encryption key secret ${r.kekSecret.name}: ${r.kekSecret.state === "created" ? "created (mount it into the CA service)" : "exists, same key"}`] : []),
  ].join("\n");
}

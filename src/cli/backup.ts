import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { describeAuthority, openAuthority } from "../ca/index.js";
import { badInput, MtlsError } from "../errors.js";
import { writeFileAtomic } from "../store/atomic-write.js";
import { readKekFile } from "../store/kek-file.js";
import type { CliContext } from "./context.js";

const BACKUP_FORMAT = "swarm-mtls/backup";

export interface BackupResult {
  file: string;
  store: string;
  trustDomain: string;
  fingerprints: string[];
}

/** `backup --out FILE`: the CA state as stored (every key still encrypted under the KEK), checked to open first. */
export async function runBackup(ctx: CliContext, o: { out?: string }): Promise<BackupResult> {
  if (!o.out) throw badInput("--out FILE is required");
  const store = await ctx.store();
  const doc = await store.readCaState();
  if (doc === null) throw new MtlsError("no-ca", `no CA in ${store.location} to back up`);
  const authority = await openAuthority(doc, await readKekFile(ctx.kekFile(store)));
  const file = resolve(o.out);
  const body = { format: BACKUP_FORMAT, version: 1, createdAt: new Date().toISOString(), from: store.location, caState: doc };
  await writeFileAtomic(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  return { file, store: store.location, trustDomain: authority.trustDomain, fingerprints: describeAuthority(authority).map((c) => c.fingerprint) };
}

/** `restore FILE [--force]`: puts a backup back into the store, after checking the KEK opens it. */
export async function runRestore(ctx: CliContext, file: string, o: { force?: boolean }): Promise<BackupResult> {
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
  if (body.format !== BACKUP_FORMAT || typeof body.caState !== "string") throw badInput(`backup ${path}: not a swarm-mtls backup (format ${String(body.format)})`);
  const store = await ctx.store();
  const authority = await openAuthority(body.caState, await readKekFile(ctx.kekFile(store)));
  await store.writeCaState(body.caState, { replace: o.force === true });
  ctx.logger.warn({ component: "audit", store: store.location, trustDomain: authority.trustDomain }, "CA state restored from backup");
  return { file: path, store: store.location, trustDomain: authority.trustDomain, fingerprints: describeAuthority(authority).map((c) => c.fingerprint) };
}

export const showBackup = (verb: string) => (r: BackupResult): string =>
  `${verb} CA of ${r.trustDomain} (${r.store}) ${verb === "backed up" ? "to" : "from"} ${r.file}\n  certificates: ${r.fingerprints.join(", ")}\n  keys inside stay encrypted under the key-encryption key: keep the KEK to restore`;

/**
 * Embedded mode's certificate files: one directory per identity, one sub-directory per generation, and a `current`
 * symlink swapped atomically, so a reader never sees the new key with the old certificate:
 *
 *   DIR/certs/<identity>/
 *     g2/ tls.crt tls.key ca.crt      the previous generation (kept: rotation.keepPrevious)
 *     g3/ tls.crt tls.key ca.crt      written completely (fsync) before it becomes current
 *         labels.json                 what swarm mode keeps in the secrets' labels (serial, validity, issuer, profile)
 *     current -> g3                   replaced by rename(2) of a new symlink: one atomic step
 *     tls.crt -> current/tls.crt      stable paths for programs that take file names
 *     tls.key -> current/tls.key
 *     ca.crt  -> current/ca.crt
 *     envoy.yaml                      Envoy bootstrap (identities with an `envoy` block), atomic replace
 *
 * The generation is the number in the name `current` points to: no other state file. This is the embedded store
 * adapter (the sibling of src/swarm for the file store): it reads and writes files; what to do with them is decided
 * by the same planner as in swarm mode (src/rotation/embedded-fleet.ts feeds it).
 */
import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";

export const CERT_FILES = ["tls.crt", "tls.key", "ca.crt"] as const;
export type CertFile = (typeof CERT_FILES)[number];

const GEN_RE = /^g([1-9][0-9]{0,8})$/;
const LABELS_FILE = "labels.json";

/** The generation `current` points to; 1 for a directory written by an older version (plain files); 0 when none. */
export async function currentGeneration(dir: string): Promise<number> {
  try {
    const m = GEN_RE.exec(await readlink(join(dir, "current")));
    if (m) return Number(m[1]);
  } catch {
    /* no current link */
  }
  try {
    const st = await lstat(join(dir, "tls.crt"));
    return st.isFile() ? 1 : 0;
  } catch {
    return 0;
  }
}

/** Reads one file of the current generation (resolved once), or null when there is none. */
export async function readCurrentFile(dir: string, file: CertFile): Promise<Buffer | null> {
  const g = await currentGeneration(dir);
  if (g === 0) return null;
  try {
    const link = await readlink(join(dir, "current")).catch(() => null);
    return await readFile(link !== null && GEN_RE.test(link) ? join(dir, link, file) : join(dir, file));
  } catch {
    return null;
  }
}

/** Generation directories present (complete or not), ascending. */
async function generationDirs(dir: string): Promise<number[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.map((n) => GEN_RE.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
}

async function writeSynced(path: string, data: string, mode: number): Promise<void> {
  const fh = await open(path, "wx", 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(path, mode);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r").catch(() => null);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    /* some file systems cannot fsync a directory */
  } finally {
    await fh.close();
  }
}

/** Points `link` at `target` atomically (a new symlink renamed over the old link or file). */
async function swapLink(dir: string, link: string, target: string): Promise<void> {
  const tmp = join(dir, `.${link}.${randomBytes(6).toString("hex")}.tmp`);
  await symlink(target, tmp);
  try {
    await rename(tmp, join(dir, link));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export interface GenerationPublishParams {
  /** The identity's directory. */
  dir: string;
  files: Record<CertFile, string>;
  /** Public facts of the certificate (the labels swarm mode puts on its secrets), written as labels.json. */
  labels?: Record<string, string>;
  /** Superseded generations kept (for rollback and for readers that resolved `current` just before the swap). */
  keepPrevious: number;
}

/**
 * Writes a new generation next to the current one and makes it current in one atomic step. Returns the generations
 * before and after. The key is written 0400, the certificates 0644, directories 0700 / 0755.
 */
export async function publishGeneration(p: GenerationPublishParams): Promise<{ from: number; to: number }> {
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  const from = await currentGeneration(p.dir);
  const existing = await generationDirs(p.dir);
  const to = Math.max(from, 0, ...existing) + 1;
  // Leftovers of an interrupted write are never current: remove them.
  for (const n of await readdir(p.dir)) if (/^\.g\d+\..*\.tmp$/.test(n)) await rm(join(p.dir, n), { recursive: true, force: true });
  const tmp = join(p.dir, `.g${to}.${randomBytes(6).toString("hex")}.tmp`);
  await mkdir(tmp, { mode: 0o700 });
  try {
    await writeSynced(join(tmp, "tls.key"), p.files["tls.key"], 0o400);
    await writeSynced(join(tmp, "tls.crt"), p.files["tls.crt"], 0o644);
    await writeSynced(join(tmp, "ca.crt"), p.files["ca.crt"], 0o644);
    if (p.labels) await writeSynced(join(tmp, LABELS_FILE), `${JSON.stringify(p.labels, null, 2)}\n`, 0o644);
    await fsyncDir(tmp);
    await rename(tmp, join(p.dir, `g${to}`));
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  await attachGeneration(p.dir, to);
  // Prune: keep the current generation and `keepPrevious` below it.
  const keep = new Set((await generationDirs(p.dir)).filter((g) => g <= to).slice(-(p.keepPrevious + 1)));
  for (const g of await generationDirs(p.dir)) if (!keep.has(g)) await rm(join(p.dir, `g${g}`), { recursive: true, force: true });
  return { from, to };
}

/** Makes an existing generation current (one atomic link swap) and the stable paths links into `current`. */
export async function attachGeneration(dir: string, generation: number): Promise<void> {
  await swapLink(dir, "current", `g${generation}`);
  for (const f of CERT_FILES) {
    const target = `current/${f}`;
    const now = await readlink(join(dir, f)).catch(() => null);
    if (now !== target) await swapLink(dir, f, target);
  }
  await fsyncDir(dir);
}

/**
 * Replaces the trust bundle of a generation (atomic rename): the key pair and certificate stay, only the roots a
 * workload trusts change (a CA rotation's trust phase).
 */
export async function replaceBundle(dir: string, generation: number, pem: string): Promise<void> {
  await writeFileAtomic(join(dir, `g${generation}`, "ca.crt"), pem, { mode: 0o644 });
}

/** One generation as read back from its directory. */
export interface StoredGeneration {
  generation: number;
  /** tls.crt (leaf + chain), or null when missing. */
  certPem: string | null;
  /** tls.key exists (its content is never read here). */
  hasKey: boolean;
  /** ca.crt, or null when missing. */
  caPem: string | null;
  /** labels.json, or null for a directory written before it existed (or a legacy plain-file directory). */
  labels: Record<string, string> | null;
}

/** What an identity's directory holds: the generation `current` names (0 when none) and every generation. */
export interface StoredIdentity {
  current: number;
  generations: StoredGeneration[];
  /** envoy.yaml as written, or null. */
  envoyYaml: string | null;
}

const readText = (path: string): Promise<string | null> => readFile(path, "utf8").catch(() => null);

async function readStoredGeneration(dir: string, generation: number): Promise<StoredGeneration> {
  const [certPem, keyStat, caPem, labelsText] = await Promise.all([
    readText(join(dir, "tls.crt")),
    lstat(join(dir, "tls.key")).catch(() => null),
    readText(join(dir, "ca.crt")),
    readText(join(dir, LABELS_FILE)),
  ]);
  let labels: Record<string, string> | null = null;
  try {
    labels = labelsText === null ? null : (JSON.parse(labelsText) as Record<string, string>);
  } catch {
    labels = null; // edited by hand: read as if it were absent
  }
  return { generation, certPem, hasKey: keyStat !== null, caPem, labels };
}

/** Reads an identity's directory (no key material is read). A missing directory reads as empty. */
export async function readStoredIdentity(dir: string): Promise<StoredIdentity> {
  const current = await currentGeneration(dir);
  const numbers = await generationDirs(dir);
  const generations = await Promise.all(numbers.map((g) => readStoredGeneration(join(dir, `g${g}`), g)));
  // A directory written by an older version keeps plain files in DIR itself: that is generation 1.
  if (current === 1 && !numbers.includes(1)) generations.unshift(await readStoredGeneration(dir, 1));
  return { current, generations, envoyYaml: await readEnvoyYaml(dir) };
}

/** Writes DIR/envoy.yaml atomically when its content differs; returns whether it changed. */
export async function writeEnvoyYaml(dir: string, yaml: string): Promise<boolean> {
  const path = join(dir, "envoy.yaml");
  const now = await readFile(path, "utf8").catch(() => null);
  if (now === yaml) return false;
  await writeFileAtomic(path, yaml, { mode: 0o644 });
  return true;
}

/** DIR/envoy.yaml, or null when not written. */
export async function readEnvoyYaml(dir: string): Promise<string | null> {
  return readFile(join(dir, "envoy.yaml"), "utf8").catch(() => null);
}

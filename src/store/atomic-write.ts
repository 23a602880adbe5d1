import { randomBytes } from "node:crypto";
import { link, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join, basename, resolve } from "node:path";

export interface AtomicWriteParams {
  /** File mode; default 0o644. */
  mode?: number;
  /** Owner uid/gid; default: unchanged (the writing process). */
  uid?: number;
  gid?: number;
}

/**
 * Creates a directory and its missing parents, one level at a time, and returns the directories it created (outermost
 * first) so a caller can remove them again. Node's `mkdir({ recursive: true })` spins forever on paths like
 * `/proc/nope` (mkdir says ENOENT although the parent exists); here that is an error naming the directory.
 */
export async function makeDirs(path: string, mode = 0o755): Promise<string[]> {
  const missing: string[] = [];
  let dir = resolve(path);
  for (;;) {
    const st = await stat(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw e;
    });
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: "ENOTDIR", path: dir });
      break;
    }
    missing.unshift(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const created: string[] = [];
  for (const d of missing) {
    try {
      await mkdir(d, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && (await stat(d)).isDirectory()) continue;
      throw e;
    }
    created.push(d);
  }
  return created;
}

/** A file written and synced under a temporary name next to its target, not yet visible under the target's name. */
export interface PreparedFile {
  readonly path: string;
  /** Moves it into place. `exclusive`: fail with EEXIST (keeping the temporary file) when the target exists. */
  commit(p?: { exclusive?: boolean }): Promise<void>;
  /** Removes the temporary file. */
  discard(): Promise<void>;
}

/** Writes `data` to a temporary file beside `path` (fsync, mode, owner); `commit` renames it over `path`. */
export async function prepareFileAtomic(path: string, data: string | Uint8Array, p: AtomicWriteParams = {}): Promise<PreparedFile> {
  await makeDirs(dirname(path), 0o700);
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const mode = p.mode ?? 0o644;
  const fh = await open(tmp, "wx", 0o600);
  try {
    try {
      await fh.writeFile(data);
      // Owner and mode by the open handle, before close: the name could be swapped (a symlink to another file) by
      // anyone who can write this directory between a close and a path-based chmod/chown.
      if (p.uid !== undefined || p.gid !== undefined) await fh.chown(p.uid ?? -1, p.gid ?? -1);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return {
    path: tmp,
    async commit(c = {}) {
      if (c.exclusive) {
        // link() fails when the target exists: no window in which another file could be replaced.
        await link(tmp, path);
        await rm(tmp, { force: true });
        return;
      }
      try {
        await rename(tmp, path);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
    },
    discard: () => rm(tmp, { force: true }),
  };
}

/**
 * Writes a file so that readers see either the old or the new content, never a half-written file:
 * write to a temporary file in the same directory, fsync, set mode/owner, rename over the target.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, p: AtomicWriteParams = {}): Promise<void> {
  await (await prepareFileAtomic(path, data, p)).commit();
}

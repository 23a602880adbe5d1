import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join, basename } from "node:path";

export interface AtomicWriteParams {
  /** File mode; default 0o644. */
  mode?: number;
  /** Owner uid/gid; default: unchanged (the writing process). */
  uid?: number;
  gid?: number;
}

/**
 * Writes a file so that readers see either the old or the new content, never a half-written file:
 * write to a temporary file in the same directory, fsync, set mode/owner, rename over the target.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, p: AtomicWriteParams = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const mode = p.mode ?? 0o644;
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (p.uid !== undefined || p.gid !== undefined) await chown(tmp, p.uid ?? -1, p.gid ?? -1);
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

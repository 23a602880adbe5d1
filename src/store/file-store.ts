import { chmod, mkdir, readFile, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MtlsError } from "../errors.js";
import { writeFileAtomic } from "./atomic-write.js";
import type { CaStore } from "./ca-store.js";

/**
 * File layout of the file store: DIR (0700)/ca-state.json (0600), DIR/kek (0400), DIR/certs/<identity>/, and between
 * `init --intermediate-csr` and its import DIR/ca-pending.json (0600).
 */
export const FILE_STORE_LAYOUT = { caState: "ca-state.json", pending: "ca-pending.json", kek: "kek", certs: "certs" } as const;

/** The file backend: a directory on this host, for development and plain docker-compose hosts. */
export function openFileStore(dir: string): CaStore & { dir: string } {
  const root = resolve(dir);
  const statePath = join(root, FILE_STORE_LAYOUT.caState);
  return {
    dir: root,
    location: `file:${root}`,
    defaultKekFile: () => join(root, FILE_STORE_LAYOUT.kek),
    readCaState: () => readIfThere(root, FILE_STORE_LAYOUT.caState),
    readPendingIntermediate: () => readIfThere(root, FILE_STORE_LAYOUT.pending),
    async writePendingIntermediate(doc) {
      await mkdir(root, { recursive: true, mode: 0o700 });
      await chmod(root, 0o700);
      await writeFileAtomic(join(root, FILE_STORE_LAYOUT.pending), doc, { mode: 0o600 });
    },
    async dropPendingIntermediate() {
      await rm(join(root, FILE_STORE_LAYOUT.pending), { force: true });
    },
    async writeCaState(doc, p) {
      if (!p.replace) {
        const exists = await stat(statePath).then(() => true, () => false);
        if (exists) {
          throw new MtlsError("ca-exists", `a CA already exists in ${root} (use --force to replace it; the old CA's certificates will no longer be trusted)`);
        }
      }
      await mkdir(root, { recursive: true, mode: 0o700 });
      await chmod(root, 0o700);
      await writeFileAtomic(statePath, doc, { mode: 0o600 });
    },
  };
}

async function readIfThere(root: string, name: string): Promise<string | null> {
  try {
    return await readFile(join(root, name), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new MtlsError("bad-input", `store ${root}: cannot read ${name} (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
}

import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MtlsError } from "../errors.js";
import { writeFileAtomic } from "./atomic-write.js";
import type { CaStore } from "./ca-store.js";

/** File layout of the file store: DIR (0700)/ca-state.json (0600), DIR/kek (0400), DIR/certs/<identity>/. */
export const FILE_STORE_LAYOUT = { caState: "ca-state.json", kek: "kek", certs: "certs" } as const;

/** The file backend: a directory on this host, for development and plain docker-compose hosts. */
export function openFileStore(dir: string): CaStore & { dir: string } {
  const root = resolve(dir);
  const statePath = join(root, FILE_STORE_LAYOUT.caState);
  return {
    dir: root,
    location: `file:${root}`,
    defaultKekFile: () => join(root, FILE_STORE_LAYOUT.kek),
    async readCaState() {
      try {
        return await readFile(statePath, "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw new MtlsError("bad-input", `store ${root}: cannot read ${FILE_STORE_LAYOUT.caState} (${(e as NodeJS.ErrnoException).code})`, { cause: e });
      }
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

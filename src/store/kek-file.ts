import { readFile, stat } from "node:fs/promises";
import { parseKek, generateKekText } from "../ca/index.js";
import { MtlsError } from "../errors.js";
import { writeFileAtomic } from "./atomic-write.js";

/** Reads the key-encryption key from its file. The bytes are never logged or printed. */
export async function readKekFile(path: string): Promise<Uint8Array> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === "ENOENT" ? "not found; pass --kek-file with the key this CA was created with (a new CA gets one from `init` or `serve --init`)" : `cannot be read (${code})`;
    throw new MtlsError("kek", `key-encryption key file ${path}: ${hint}`, { cause: e });
  }
  try {
    return parseKek(text);
  } catch (e) {
    throw new MtlsError("kek", `key-encryption key file ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Creates a new key-encryption key file (mode 0400) unless one exists; returns whether it created one. */
export async function ensureKekFile(path: string): Promise<boolean> {
  const exists = await stat(path).then(() => true, () => false);
  if (exists) return false;
  await writeFileAtomic(path, generateKekText(), { mode: 0o400 });
  return true;
}

/**
 * The key-encryption key (KEK) that seals the CA's private keys in the CA state: 32 random bytes, kept as base64
 * text (what `openssl rand -base64 32` prints) in a Docker secret or a file.
 */
import { randomBytes } from "node:crypto";
import { MtlsError } from "../errors.js";

export const KEK_BYTES = 32;

const HINT = "make one with `openssl rand -base64 32 > kek && chmod 400 kek`, or let `init` (or `serve --init`) create it";

/** Reads KEK file content: base64 of exactly 32 bytes, surrounding whitespace ignored. Never echoes the content. */
export function parseKek(fileContent: string | Buffer): Uint8Array {
  const text = (typeof fileContent === "string" ? fileContent : fileContent.toString("latin1")).trim();
  if (text.length === 0) throw new MtlsError("kek", `the key-encryption key is empty; ${HINT}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new MtlsError("kek", `the key-encryption key is not base64 text; ${HINT}`);
  }
  const bytes = Buffer.from(text, "base64");
  if (bytes.length !== KEK_BYTES) {
    throw new MtlsError(
      "kek",
      `the key-encryption key must be base64 of exactly ${KEK_BYTES} bytes (got ${bytes.length}); ${HINT}`,
    );
  }
  return new Uint8Array(bytes);
}

/** A fresh KEK as file content: base64 of 32 random bytes and a newline. */
export function generateKekText(): string {
  return `${randomBytes(KEK_BYTES).toString("base64")}\n`;
}

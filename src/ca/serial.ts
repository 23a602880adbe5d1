import { randomFillSync } from "node:crypto";

/** Bytes of a certificate serial: 128 random bits, positive as a DER INTEGER (high bit clear), first byte non-zero. */
export const SERIAL_BYTES = 16;

// One OpenSSL RAND call per 256 serials instead of one per serial (the call overhead showed up in profiles).
const pool = Buffer.alloc(SERIAL_BYTES * 256);
let poolOffset = pool.length;

/** A fresh random serial, 16 bytes, first byte in 0x01..0x7f, so the DER INTEGER is exactly 16 bytes. */
export function randomSerial(): Buffer {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const b = Buffer.from(pool.subarray(poolOffset, poolOffset + SERIAL_BYTES));
  pool.fill(0, poolOffset, poolOffset + SERIAL_BYTES);
  poolOffset += SERIAL_BYTES;
  b[0] = ((b[0] as number) & 0x7f) || 0x01;
  return b;
}

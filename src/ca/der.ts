/**
 * Minimal DER encoding and reading: just what the fast leaf path and the CSR/certificate readers need.
 * Everything works on Buffers; no general ASN.1 schema machinery (that is what made issuance slow).
 */

/** DER tag bytes used in certificates. */
export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BOOLEAN: 0x01,
} as const;

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0x81, n];
  if (n < 0x10000) return [0x82, n >> 8, n & 0xff];
  if (n < 0x1000000) return [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  throw new RangeError(`DER length ${n} too large`);
}

/** One tag-length-value with the given content parts, written into a single buffer. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const head = lengthBytes(len);
  const out = Buffer.allocUnsafe(1 + head.length + len);
  out[0] = tag;
  let o = 1;
  for (const b of head) out[o++] = b;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, ...parts);

/** OID from dotted text to its DER TLV. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map((x) => Number(x));
  const first = arcs[0] ?? 0;
  const second = arcs[1] ?? 0;
  const bytes: number[] = [first * 40 + second];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    let v = Math.floor(arc / 128);
    while (v > 0) {
      chunk.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    bytes.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(bytes));
}

/** A BIT STRING with no unused bits around `bytes`. */
export const bitString = (bytes: Uint8Array): Buffer => tlv(TAG.BIT_STRING, Buffer.of(0), bytes);

/** An unsigned big-endian integer (e.g. a serial) as a DER INTEGER, adding a 0x00 when the high bit is set. */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return (trimmed[0] ?? 0) & 0x80 ? tlv(TAG.INTEGER, Buffer.of(0), trimmed) : tlv(TAG.INTEGER, trimmed);
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** RFC 5280 Time: UTCTime for 1950..2049, GeneralizedTime otherwise; whole seconds, always Z. */
export function derTime(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest =
    pad2(date.getUTCMonth() + 1) +
    pad2(date.getUTCDate()) +
    pad2(date.getUTCHours()) +
    pad2(date.getUTCMinutes()) +
    pad2(date.getUTCSeconds()) +
    "Z";
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(pad2(y % 100) + rest, "latin1"));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(String(y).padStart(4, "0") + rest, "latin1"));
}

/** A parsed TLV: where its content starts and ends inside the buffer it was read from. */
export interface DerNode {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

/** Reads the TLV at `offset` (definite lengths only, as DER requires). Throws RangeError on malformed input. */
export function readNode(buf: Uint8Array, offset: number, limit = buf.length): DerNode {
  if (offset + 2 > limit) throw new RangeError("DER: truncated header");
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new RangeError("DER: multi-byte tags are not supported");
  let len = buf[offset + 1] as number;
  let contentStart = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new RangeError("DER: unsupported length form");
    if (contentStart + n > limit) throw new RangeError("DER: truncated length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[contentStart + i] as number);
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) throw new RangeError("DER: content runs past the end");
  return { tag, start: offset, contentStart, end };
}

/** The direct children of a constructed node. */
export function children(buf: Uint8Array, node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let o = node.contentStart;
  while (o < node.end) {
    const child = readNode(buf, o, node.end);
    out.push(child);
    o = child.end;
  }
  return out;
}

/** The complete TLV bytes of a node (a view, not a copy). */
export const nodeBytes = (buf: Buffer, node: DerNode): Buffer => buf.subarray(node.start, node.end);

/** The content bytes of a node (a view, not a copy). */
export const nodeContent = (buf: Buffer, node: DerNode): Buffer => buf.subarray(node.contentStart, node.end);

/** PEM armour with 64-character lines and a trailing newline. */
export function pemEncode(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + "\n";
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** DER bytes of every PEM block with the given label, in order. */
export function pemDecodeAll(text: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m) => Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64"));
}

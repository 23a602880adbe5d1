/**
 * Validators for every name that ends up in a certificate. Pure; each throws MtlsError("bad-input") with a one-line
 * reason that names the offending value, and returns the canonical form.
 */
import { isIP } from "node:net";
import { badInput, printable } from "../errors.js";

import { KEY_ALGORITHMS, type KeyAlgorithm } from "./types.js";

const IDENTITY_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * An identity names one certificate subject (usually a Swarm service, stack prefix kept):
 * 1-63 characters of `a-z 0-9 . _ -`, starting with a letter or digit. Returned unchanged.
 */
export function validateIdentity(name: string): string {
  const what = `identity '${printable(name)}'`;
  if (typeof name !== "string" || name.length === 0) throw badInput("identity must not be empty");
  if (name.length > 63) throw badInput(`${what} is ${name.length} characters long (at most 63)`);
  if (name !== name.toLowerCase()) {
    const lower = name.toLowerCase();
    throw badInput(`${what} must be lower-case${IDENTITY_RE.test(lower) ? ` (try '${lower}')` : ""}`);
  }
  if (!/^[a-z0-9]/.test(name)) throw badInput(`${what} must start with a letter or a digit`);
  if (!IDENTITY_RE.test(name)) {
    throw badInput(`${what} may only contain a-z, 0-9, '.', '_' and '-'`);
  }
  return name;
}

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A DNS SAN: an RFC 1123 host name, returned lower-cased. At most 253 characters, labels of 1-63 characters of
 * `a-z 0-9 -` not starting or ending with '-'. No wildcards, underscores, IP addresses or trailing dot.
 */
export function validateDnsName(name: string): string {
  if (typeof name !== "string" || name.length === 0) throw badInput("DNS name must not be empty");
  const what = `DNS name '${printable(name)}'`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw badInput(`${what} contains control characters`);
  if (/\s/.test(name)) throw badInput(`${what} contains whitespace`);
  if (name.includes(",")) throw badInput(`${what} contains a comma (give one name per entry)`);
  if (name.includes("*")) throw badInput(`${what}: wildcards are not allowed`);
  if (isIP(name.replace(/^\[|\]$/g, "")) !== 0) throw badInput(`${what} is an IP address, not a host name`);
  const lower = name.toLowerCase();
  if (lower.length > 253) throw badInput(`${what} is ${lower.length} characters long (at most 253)`);
  if (lower.endsWith(".")) throw badInput(`${what} must not end with a dot`);
  if (lower.includes("_")) throw badInput(`${what} contains '_', which host names may not`);
  const labels = lower.split(".");
  for (const label of labels) {
    if (label.length === 0) throw badInput(`${what} has an empty label`);
    if (label.length > 63) throw badInput(`${what} has a label longer than 63 characters`);
    if (!LABEL_RE.test(label)) {
      throw badInput(`${what}: label '${printable(label)}' may only contain a-z, 0-9 and inner '-'`);
    }
  }
  if (labels.length > 1 && /^[0-9]+$/.test(labels[labels.length - 1] as string)) {
    throw badInput(`${what} looks like an IP address (its last label is all digits)`);
  }
  return lower;
}

/** An IP SAN: IPv4 or IPv6 (brackets allowed), returned in canonical form (IPv6 lower-case, compressed by URL rules). */
export function validateIpAddress(ip: string): string {
  if (typeof ip !== "string" || ip.length === 0) throw badInput("IP address must not be empty");
  const bare = ip.trim().replace(/^\[(.*)\]$/, "$1");
  const v = isIP(bare);
  if (v === 4) return bare.split(".").map((x) => String(Number(x))).join(".");
  if (v === 6 && !bare.includes("%")) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  throw badInput(`'${printable(ip)}' is not an IP address`);
}

/** The 4 or 16 bytes of an IP address (as an iPAddress SAN carries it). */
export function ipAddressBytes(ip: string): Buffer {
  const v = validateIpAddress(ip);
  if (isIP(v) === 4) return Buffer.from(v.split(".").map(Number));
  let text = v;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = (v4[1] as string).split(".").map(Number) as [number, number, number, number];
    text = text.slice(0, -(v4[1] as string).length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? (text.split("::") as [string, string]) : [text, undefined];
  const h = head === "" ? [] : head.split(":");
  const tl = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill("0"), ...tl];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;

/** A SPIFFE trust domain ("example.org", "prod.swarm"): lower-case letters, digits, '.', '-', '_'; at most 255. */
export function validateTrustDomain(td: string): string {
  if (typeof td !== "string" || td.length === 0) throw badInput("trust domain must not be empty");
  const what = `trust domain '${printable(td)}'`;
  if (td.toLowerCase().startsWith("spiffe://")) {
    throw badInput(`${what}: give the trust domain without 'spiffe://'`);
  }
  if (td.length > 255) throw badInput(`${what} is ${td.length} characters long (at most 255)`);
  if (td !== td.toLowerCase()) {
    const lower = td.toLowerCase();
    throw badInput(`${what} must be lower-case${TRUST_DOMAIN_RE.test(lower) ? ` (try '${lower}')` : ""}`);
  }
  if (!TRUST_DOMAIN_RE.test(td)) throw badInput(`${what} may only contain a-z, 0-9, '.', '-' and '_'`);
  return td;
}

const SPIFFE_SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

function validateSpiffeSegment(segment: string, what: string): string {
  if (segment.length === 0 || segment === "." || segment === ".." || !SPIFFE_SEGMENT_RE.test(segment)) {
    throw badInput(`${what} '${printable(segment)}' is not a valid SPIFFE path segment (a-z A-Z 0-9 . _ -)`);
  }
  return segment;
}

/** Parameters of {@link spiffeIdFor}. */
export interface SpiffeIdForParams {
  /** SPIFFE trust domain; required. */
  trustDomain: string;
  /** Swarm stack (com.docker.stack.namespace); default none, giving the `/id/<identity>` form. */
  stack?: string;
  /** Full Swarm service name ("shop_api"); default: the identity. The stack prefix is stripped. */
  service?: string;
  /** Certificate identity; required. */
  identity: string;
}

/**
 * The SPIFFE ID of a workload: `spiffe://<td>/swarm/<stack>/<service short name>` for a stack service,
 * otherwise `spiffe://<td>/id/<identity>`.
 */
export function spiffeIdFor(p: SpiffeIdForParams): string {
  const td = validateTrustDomain(p.trustDomain);
  const identity = validateIdentity(p.identity);
  if (p.stack !== undefined && p.stack !== "") {
    const stack = validateSpiffeSegment(p.stack, "stack");
    const full = p.service ?? identity;
    const short = full.startsWith(`${stack}_`) ? full.slice(stack.length + 1) : full;
    return `spiffe://${td}/swarm/${stack}/${validateSpiffeSegment(short, "service")}`;
  }
  return `spiffe://${td}/id/${identity}`;
}

/**
 * Is this URI an admin SPIFFE ID (`spiffe://<td>/admin/...`)? Admin IDs are the only ones the API grants admin to,
 * and only admin certificates carry one; no service ever gets such a path. Case-insensitive on purpose, so that
 * `/Admin/x` is not a way around the rule.
 */
export function isAdminSpiffeId(uri: string): boolean {
  return /^spiffe:\/\/[^/]*\/admin(\/|$)/i.test(uri);
}

/** The SPIFFE ID of an administrator: `spiffe://<td>/admin/<name>`, `name` as an identity (a-z 0-9 . _ -). */
export function adminSpiffeId(trustDomain: string, name: string): string {
  return `spiffe://${validateTrustDomain(trustDomain)}/admin/${validateSpiffeSegment(validateIdentity(name), "admin name")}`;
}

/** A SPIFFE ID: `spiffe://<trust domain>/<segments>`; returned unchanged. */
export function validateSpiffeId(id: string): string {
  const what = `SPIFFE ID '${printable(id)}'`;
  const m = /^spiffe:\/\/([^/]*)(\/.*)?$/.exec(id);
  if (!m) throw badInput(`${what} must start with 'spiffe://'`);
  validateTrustDomain(m[1] ?? "");
  const path = m[2] ?? "";
  if (path === "" || path === "/") throw badInput(`${what} has no path`);
  for (const seg of path.slice(1).split("/")) validateSpiffeSegment(seg, `${what}: segment`);
  return id;
}

/**
 * A URI SAN: printable ASCII, no spaces or commas, with a scheme (`spiffe://…`, `https://…`). SPIFFE IDs are
 * checked against the SPIFFE rules. Returned unchanged.
 */
export function validateUri(uri: string): string {
  const what = `URI '${printable(uri)}'`;
  if (typeof uri !== "string" || uri.length === 0) throw badInput("URI must not be empty");
  if (!/^[\x21-\x7e]+$/.test(uri)) throw badInput(`${what} may only contain printable ASCII without spaces`);
  if (uri.includes(",")) throw badInput(`${what} contains a comma (give one URI per entry)`);
  if (uri.length > 2048) throw badInput(`${what} is longer than 2048 characters`);
  if (uri.startsWith("spiffe:")) return validateSpiffeId(uri);
  if (!/^[a-z][a-z0-9+.-]*:/i.test(uri)) throw badInput(`${what} has no scheme`);
  try {
    new URL(uri);
  } catch {
    throw badInput(`${what} is not a valid URI`);
  }
  return uri;
}

/** A key algorithm as operators write it (`ecdsa-p256`, `ed25519`, `rsa-3072`, case-insensitive). */
export function parseKeyAlgorithm(s: string): KeyAlgorithm {
  const v = String(s).trim().toLowerCase();
  if ((KEY_ALGORITHMS as readonly string[]).includes(v)) return v as KeyAlgorithm;
  throw badInput(`unknown key algorithm '${printable(s)}' (expected one of ${KEY_ALGORITHMS.join(", ")})`);
}

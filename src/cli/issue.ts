import { access, constants, lstat, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { adminSpiffeId, bundlePem, issueLeaf, parseKeyAlgorithm, spiffeIdFor, validateDnsName, validateIdentity, type KeyAlgorithm } from "../ca/index.js";
import { checkMinLeafTtl } from "../config/leaf-ttl.js";
import { parseDuration } from "../config/duration.js";
import { badInput, printable } from "../errors.js";
import { makeDirs, prepareFileAtomic, type PreparedFile } from "../store/atomic-write.js";
import type { CliContext } from "./context.js";

export interface IssueOptions {
  dns?: string;
  uri?: string[];
  ttl?: string;
  keyAlg?: string;
  out?: string;
  stack?: string;
  /** An administrator's client certificate (SPIFFE ID /admin/<identity>). */
  admin?: boolean;
  uid?: string;
  gid?: string;
}

export interface IssueResult {
  identity: string;
  serial: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: string;
  dnsNames: string[];
  uris: string[];
  files: { cert: string; key: string; ca: string };
}

/** `--dns a,b`: every entry must be a name (`a,,b`, `a,` and `""` are mistakes, not "no name"). */
function splitDnsList(s: string | undefined): string[] {
  if (s === undefined) return [];
  const names = s.split(",").map((x) => x.trim());
  if (names.some((x) => x.length === 0)) throw badInput(`--dns: '${printable(s)}' has an empty name (give names separated by single commas)`);
  return names;
}

/** Highest uid/gid: 2^32 - 2 ((uid_t)-1 means "unchanged" to chown). */
const MAX_ID = 4294967294;

function parseId(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,10}$/.test(v.trim()) || Number(v) > MAX_ID) throw badInput(`${name}: '${printable(v)}' must be a whole number from 0 to ${MAX_ID}`);
  return Number(v);
}

/**
 * Checks that OUT can take the three files before anything is issued: OUT is a directory (or can be made in an
 * existing, writable directory), and does not hold a file in the way.
 */
async function checkOutDir(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => null);
  if (st && !st.isDirectory()) throw badInput(`--out ${dir}: exists and is not a directory (give the directory to write tls.crt, tls.key and ca.crt to)`);
  let parent = st ? dir : dirname(dir);
  for (;;) {
    const p = await stat(parent).catch(() => null);
    if (p) {
      if (!p.isDirectory()) throw badInput(`--out ${dir}: ${parent} is not a directory`);
      break;
    }
    if (dirname(parent) === parent) break;
    parent = dirname(parent);
  }
  await access(parent, constants.W_OK | constants.X_OK).catch(() => {
    throw badInput(`--out ${dir}: ${parent} is not writable`);
  });
  if (st) {
    for (const f of ["tls.crt", "tls.key", "ca.crt"]) {
      const e = await lstat(join(dir, f)).catch(() => null);
      if (e && !e.isFile()) throw badInput(`--out ${dir}: ${f} exists and is not a regular file`);
    }
  }
}

function parseUri(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw badInput(`--uri: '${u}' is not a URI`);
  }
  if (!/^(spiffe|https?|urn):?$/.test(url.protocol.replace(/:$/, ""))) throw badInput(`--uri: '${u}' must be a spiffe:, https: or urn: URI`);
  return u;
}

/** What the operator asked for, every option checked before the CA is read. */
interface IssueRequest {
  identity: string;
  dir: string;
  dnsNames: string[];
  ttlSeconds: number;
  keyAlgorithm: KeyAlgorithm | undefined;
  uid: number | undefined;
  gid: number | undefined;
  extraUris: string[];
}

function issueRequest(ctx: CliContext, identityArg: string, o: IssueOptions): IssueRequest {
  const identity = validateIdentity(identityArg);
  if (!o.out) throw badInput("--out DIR is required (where tls.crt, tls.key and ca.crt are written)");
  const dnsNames = splitDnsList(o.dns).map(validateDnsName);
  const ttlSeconds = o.ttl ? parseDuration(o.ttl, "--ttl") : ctx.config.seconds.leafTtl;
  checkMinLeafTtl(ttlSeconds, o.ttl ? "--ttl" : "leaf.ttl", o.ttl ?? ctx.config.leaf.ttl);
  const keyAlgorithm = o.keyAlg ? parseKeyAlgorithm(o.keyAlg) : ctx.config.leaf.keyAlgorithm ? parseKeyAlgorithm(ctx.config.leaf.keyAlgorithm) : undefined;
  const uid = parseId(o.uid, "--uid");
  const gid = parseId(o.gid, "--gid");
  const extraUris = (o.uri ?? []).map(parseUri);
  if (o.admin && (dnsNames.length > 0 || extraUris.length > 0 || o.stack !== undefined)) {
    throw badInput("--admin: an admin certificate carries only spiffe://<td>/admin/<identity>; drop --dns, --uri and --stack");
  }
  return { identity, dir: resolve(o.out), dnsNames, ttlSeconds, keyAlgorithm, uid, gid, extraUris };
}

/** SPIFFE: an X.509-SVID carries exactly one URI SAN of the spiffe scheme, and it is the one made from the identity. */
function checkOneSpiffeId(extraUris: string[], spiffeId: string, trustDomain: string): void {
  for (const u of extraUris) {
    if (!u.toLowerCase().startsWith("spiffe:")) continue;
    if (u === spiffeId) continue;
    const td = /^spiffe:\/\/([^/]*)/i.exec(u)?.[1] ?? "";
    if (td.toLowerCase() !== trustDomain) {
      throw badInput(`--uri: '${printable(u)}' is a SPIFFE ID of another trust domain than this CA's (${trustDomain})`);
    }
    throw badInput(`--uri: '${printable(u)}' would be a second SPIFFE ID; the certificate already carries ${spiffeId} (use --stack for /swarm/<stack>/<service>)`);
  }
}

/**
 * Writes tls.key, tls.crt and ca.crt to `dir`. Everything is prepared (written, synced, owned) under temporary names
 * before any file takes its name; on a failure nothing stays behind, not even a directory made for it.
 */
async function writeIssuedFiles(
  dir: string,
  pems: { key: string; chain: string; bundle: string },
  owner: { uid: number | undefined; gid: number | undefined },
): Promise<IssueResult["files"]> {
  const files = { cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: join(dir, "ca.crt") };
  let createdDirs: string[] = [];
  const prepared: PreparedFile[] = [];
  try {
    createdDirs = await makeDirs(dir, 0o755);
    prepared.push(await prepareFileAtomic(files.key, pems.key, { mode: 0o400, uid: owner.uid, gid: owner.gid }));
    prepared.push(await prepareFileAtomic(files.cert, pems.chain, { mode: 0o644 }));
    prepared.push(await prepareFileAtomic(files.ca, pems.bundle, { mode: 0o644 }));
  } catch (e) {
    for (const f of prepared) await f.discard();
    for (const d of createdDirs.reverse()) await rmdir(d).catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    throw badInput(`--out ${dir}: cannot write the files (${err.code ?? err.message})`, e);
  }
  for (const f of prepared) await f.commit();
  return files;
}

export async function runIssue(ctx: CliContext, identityArg: string, o: IssueOptions): Promise<IssueResult> {
  const req = issueRequest(ctx, identityArg, o);
  const { identity, dir } = req;
  await checkOutDir(dir);
  const { authority } = await ctx.authority();
  const spiffeId = o.admin
    ? adminSpiffeId(authority.trustDomain, identity)
    : spiffeIdFor({ trustDomain: authority.trustDomain, stack: o.stack, service: o.stack ? identity : undefined, identity });
  checkOneSpiffeId(req.extraUris, spiffeId, authority.trustDomain);
  const uris = [spiffeId, ...req.extraUris.filter((u) => u !== spiffeId)];
  const role = o.admin ? "admin" : "workload";
  const leaf = await issueLeaf(authority, { identity, dnsNames: req.dnsNames, uris, ttlSeconds: req.ttlSeconds, keyAlgorithm: req.keyAlgorithm, role });
  const files = await writeIssuedFiles(dir, { key: leaf.keyPem as string, chain: leaf.chainPem, bundle: bundlePem(authority) }, req);
  ctx.logger.info(
    { component: "ca", identity, role, serial: leaf.serial, fingerprint: leaf.fingerprint, notAfter: leaf.notAfter.toISOString() },
    "certificate issued",
  );
  return {
    identity,
    serial: leaf.serial,
    fingerprint: leaf.fingerprint,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    keyAlgorithm: leaf.keyAlgorithm,
    dnsNames: leaf.dnsNames,
    uris: leaf.uris,
    files,
  };
}

export function showIssue(r: IssueResult): string {
  return [
    `issued ${r.identity} (${r.keyAlgorithm}), serial ${r.serial}`,
    `  valid      ${r.notBefore} .. ${r.notAfter}`,
    `  names      ${[...r.dnsNames, ...r.uris].join(", ")}`,
    `  sha256     ${r.fingerprint}`,
    `  wrote      ${r.files.cert} (chain), ${r.files.key} (key, 0400), ${r.files.ca} (trust bundle)`,
  ].join("\n");
}

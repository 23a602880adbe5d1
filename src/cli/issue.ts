import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { bundlePem, issueLeaf, parseKeyAlgorithm, spiffeIdFor, validateDnsName, validateIdentity } from "../ca/index.js";
import { parseDuration } from "../config/duration.js";
import { badInput } from "../errors.js";
import { writeFileAtomic } from "../store/atomic-write.js";
import type { CliContext } from "./context.js";

export interface IssueOptions {
  dns?: string;
  uri?: string[];
  ttl?: string;
  keyAlg?: string;
  out?: string;
  stack?: string;
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

function splitList(s: string | undefined): string[] {
  return (s ?? "").split(",").map((x) => x.trim()).filter((x) => x.length > 0);
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

export async function runIssue(ctx: CliContext, identityArg: string, o: IssueOptions): Promise<IssueResult> {
  const identity = validateIdentity(identityArg);
  if (!o.out) throw badInput("--out DIR is required (where tls.crt, tls.key and ca.crt are written)");
  const dnsNames = splitList(o.dns).map(validateDnsName);
  const ttlSeconds = o.ttl ? parseDuration(o.ttl, "--ttl") : ctx.config.seconds.leafTtl;
  const keyAlgorithm = o.keyAlg ? parseKeyAlgorithm(o.keyAlg) : ctx.config.leaf.keyAlgorithm ? parseKeyAlgorithm(ctx.config.leaf.keyAlgorithm) : undefined;
  const uid = o.uid === undefined ? undefined : Number(o.uid);
  const gid = o.gid === undefined ? undefined : Number(o.gid);
  for (const [name, v] of [["--uid", uid], ["--gid", gid]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw badInput(`${name}: must be a non-negative integer`);
  }
  const { authority } = await ctx.authority();
  const spiffeId = spiffeIdFor({ trustDomain: authority.trustDomain, stack: o.stack, service: o.stack ? identity : undefined, identity });
  const uris = [spiffeId, ...(o.uri ?? []).map(parseUri)];
  const leaf = await issueLeaf(authority, { identity, dnsNames, uris, ttlSeconds, keyAlgorithm });

  const dir = resolve(o.out);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const files = { cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: join(dir, "ca.crt") };
  await writeFileAtomic(files.key, leaf.keyPem as string, { mode: 0o400, uid, gid });
  await writeFileAtomic(files.cert, leaf.chainPem, { mode: 0o644 });
  await writeFileAtomic(files.ca, bundlePem(authority), { mode: 0o644 });
  ctx.logger.info(
    { component: "ca", identity, serial: leaf.serial, fingerprint: leaf.fingerprint, notAfter: leaf.notAfter.toISOString() },
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

/**
 * `rotate --server URL`: asks a running `serve` to rotate, through its admin API. The rotation runs inside serve,
 * under its lease, with its configuration; the CLI prints the same report and exits with the same codes as a local
 * rotate (3 when the lease is held).
 */
import { readFile } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { resolve } from "node:path";
import { badInput, MtlsError, type ErrorCode } from "../errors.js";
import { isLoopbackHost } from "./loopback.js";
import type { PlanReason } from "../rotation/plan.js";
import type { RotationReport, ServiceOutcome } from "../rotation/rollout.js";
import type { RotationOutcome, ServiceStatus } from "../rotation/serving-types.js";

export interface RemoteRotateParams {
  /** `https://HOST:PORT` (or `http://` for a loopback listener with --no-tls). */
  server: string;
  /** File holding the admin bearer token. */
  adminTokenFile: string;
  /** PEM file of the root(s) that issued the API's certificate; default the system's trust store. */
  caFile?: string;
  services: string[];
  all: boolean;
  force: boolean;
  dryRun: boolean;
  /** Milliseconds one request may take (a rotation waits for every task); default 30 minutes. */
  timeoutMs?: number;
  /** One line per step for people; default none. */
  progress?: (line: string) => void;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

const CODES: readonly ErrorCode[] = ["bad-input", "kek", "no-ca", "ca-exists", "not-found", "unauthorized", "forbidden", "lease-held", "docker", "rollout-failed", "timeout", "rate-limited", "internal"];

/** The server's `{error: {code, message}}` as our error (so the exit code is the server's verdict), else by status. */
export function replyError(r: Reply, what: string): MtlsError {
  const e = (r.body as { error?: { code?: string; message?: string } } | null)?.error;
  const code = CODES.includes(e?.code as ErrorCode) ? (e?.code as ErrorCode)
    : r.status === 401 ? "unauthorized" : r.status === 403 ? "forbidden" : r.status === 404 ? "not-found" : r.status === 409 ? "lease-held" : r.status < 500 ? "bad-input" : "internal";
  const message = e?.message ?? (typeof r.body === "string" && r.body ? r.body.slice(0, 200) : `HTTP ${r.status}`);
  return new MtlsError(code, `${what}: ${message}${code === "unauthorized" ? " (check --admin-token-file)" : ""}`);
}

/** `why`: what plain HTTP to another host would do (default: send the admin token in clear). */
export function parseServer(server: string, why = "would send the admin token in clear over the network"): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw badInput(`--server: '${server}' is not a URL (https://HOST:PORT)`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw badInput(`--server: '${server}' must start with https:// (or http:// for a loopback listener)`);
  // The admin token goes with every request: in clear only to this machine.
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw badInput(`--server: '${server}' ${why}; use https://${url.host} (http:// only to 127.0.0.1, ::1 or localhost)`);
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash || url.username || url.password) {
    throw badInput(`--server: give only https://HOST:PORT, without a path, query or credentials`);
  }
  return url;
}

/** Reads the token file: one line of at least 16 characters (what serve accepts). Never prints it. */
async function readToken(file: string): Promise<string> {
  const text = await readFile(resolve(file), "utf8").catch((e: NodeJS.ErrnoException) => {
    throw badInput(`--admin-token-file ${file}: cannot be read (${e.code ?? e.message})`);
  });
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token)) throw badInput(`--admin-token-file ${file}: must hold one token of at least 16 characters`);
  return token;
}

export async function readCa(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  const pem = await readFile(resolve(file), "utf8").catch((e: NodeJS.ErrnoException) => {
    throw badInput(`--ca-file ${file}: cannot be read (${e.code ?? e.message})`);
  });
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw badInput(`--ca-file ${file}: no PEM certificate in it`);
  return pem;
}

/** Certificate-chain errors: the server's certificate does not lead to a root the client trusts. */
const UNKNOWN_CA = new Set(["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "CERT_SIGNATURE_FAILURE"]);

/**
 * What a failed request says: for TLS failures, what is actually wrong and what to do — the certificate does not
 * name the host called (names it has; api.names), it is not issued by the given root (--ca-file), or no root was
 * given — otherwise the socket's message. Pure.
 */
export function tlsFailure(e: { code?: string | undefined; message: string; host: string; names?: string | undefined; caFile?: string | undefined }): string {
  const host = e.host.replace(/^\[(.*)\]$/, "$1");
  if (e.code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `the API's certificate does not name '${host}'${e.names ? ` (it names ${e.names})` : ""}: call the server by one of its names, or add '${host}' to api.names of the CA service (SWARM_MTLS_API_NAMES) and restart it`;
  }
  if (e.code !== undefined && UNKNOWN_CA.has(e.code)) {
    return e.caFile !== undefined
      ? `the API's certificate is not issued by a root in --ca-file ${e.caFile} (${e.code}): give this swarm's current root (swarm-mtls ca show --json on a manager; fetch it again after a root rotation)`
      : `the API's certificate is not trusted (${e.code}); pass --ca-file with the CA's root (swarm-mtls ca show --json, or GET /v1/bundle.pem on a host you trust)`;
  }
  if (e.code === "CERT_HAS_EXPIRED" || e.code === "CERT_NOT_YET_VALID") {
    return `the API's certificate ${e.code === "CERT_HAS_EXPIRED" ? "has expired" : "is not valid yet"} (${e.code}): check the clocks of this host and the server; serve renews its certificate by itself`;
  }
  return e.message;
}

function send(url: URL, p: { method: string; path: string; token: string; ca?: string; caFile?: string; body?: unknown; timeoutMs: number }): Promise<Reply> {
  return new Promise((done, fail) => {
    const data = p.body === undefined ? undefined : JSON.stringify(p.body);
    const headers: Record<string, string | number> = { authorization: `Bearer ${p.token}`, accept: "application/json" };
    if (data !== undefined) Object.assign(headers, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
    const options = { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ""), port: url.port || (url.protocol === "https:" ? 443 : 80), path: p.path, method: p.method, headers, timeout: p.timeoutMs };
    const req = url.protocol === "https:" ? httpsRequest({ ...options, ...(p.ca ? { ca: p.ca } : {}) }) : httpRequest(options);
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          /* not JSON: keep the text */
        }
        done({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on("error", fail);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${Math.round(p.timeoutMs / 1000)}s`)));
    req.on("error", (e: NodeJS.ErrnoException & { cert?: { subjectaltname?: string } }) => {
      fail(new MtlsError("docker", `${p.method} ${url.origin}${p.path}: ${tlsFailure({ code: e.code, message: e.message, host: url.hostname, names: e.cert?.subjectaltname, caFile: p.caFile })}`));
    });
    req.end(data);
  });
}

const fromApi = (o: RotationOutcome): ServiceOutcome => ({
  service: o.service,
  identity: o.identity,
  result: o.action === "skipped" ? "up-to-date" : o.action,
  reason: o.reason as PlanReason,
  detail: o.action === "failed" ? "" : `by the CA service (${o.reason})`,
  generationBefore: o.generationBefore > 0 ? o.generationBefore : null,
  generationAfter: o.generationAfter > 0 ? o.generationAfter : null,
  warnings: [],
  ...(o.error ? { error: o.error } : {}),
});

/**
 * Resolves the named services against the server's list (a name is a service name or an identity), then asks for one
 * rotation per identity, in order; or for every opted-in service with `all`. Unknown names fail before anything runs.
 */
export async function rotateRemote(p: RemoteRotateParams): Promise<RotationReport> {
  const url = parseServer(p.server);
  const [token, ca] = await Promise.all([readToken(p.adminTokenFile), readCa(p.caFile)]);
  const timeoutMs = p.timeoutMs ?? 30 * 60_000;
  const startedAt = new Date().toISOString();
  const body = { force: p.force, dryRun: p.dryRun };
  const outcomes: ServiceOutcome[] = [];
  if (p.all) {
    p.progress?.(`asking ${url.origin} to ${p.dryRun ? "plan" : "reconcile"} every opted-in service${p.force ? " (forced)" : ""}`);
    const r = await send(url, { method: "POST", path: "/v1/rotate", token, ca, caFile: p.caFile, body, timeoutMs });
    if (r.status !== 200) throw replyError(r, "rotate");
    outcomes.push(...(r.body as { outcomes: RotationOutcome[] }).outcomes.map(fromApi));
  } else {
    const list = await send(url, { method: "GET", path: "/v1/services", token, ca, caFile: p.caFile, timeoutMs: 60_000 });
    if (list.status !== 200) throw replyError(list, "GET /v1/services");
    const known = (list.body as { services: ServiceStatus[] }).services;
    const identities = p.services.map((name) => {
      const hit = known.find((s) => s.service === name || s.identity === name);
      if (!hit) throw new MtlsError("not-found", `no opted-in service or identity named '${name}' on ${url.origin} (known: ${known.map((s) => s.service).join(", ") || "none"})`);
      return hit;
    });
    for (const s of identities) {
      p.progress?.(`  ${s.service}: ${p.dryRun ? "planning" : "rotating"} through ${url.origin}${p.force ? " (forced)" : ""}; serve rolls it out under its lease`);
      const r = await send(url, { method: "POST", path: `/v1/services/${encodeURIComponent(s.identity)}/rotate`, token, ca, caFile: p.caFile, body, timeoutMs });
      if (r.status !== 200) throw replyError(r, `rotate ${s.service}`);
      for (const o of (r.body as { outcomes: RotationOutcome[] }).outcomes.map(fromApi)) {
        outcomes.push(o);
        p.progress?.(`  ${o.service}: ${o.result}${o.error ? ` (${o.error})` : ""}`);
      }
    }
  }
  return { outcomes, dryRun: p.dryRun, startedAt, finishedAt: new Date().toISOString(), prunedSecrets: [] };
}

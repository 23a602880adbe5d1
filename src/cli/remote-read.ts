/**
 * `status`, `ca show` and `envoy <service>` with `--server URL`: the same reports, read from a running `serve`'s public
 * API (GET /v1/services, /v1/ca, /v1/envoy/<identity>/bootstrap.yaml) instead of the swarm and the CA state, so an
 * operator's machine needs neither the Docker socket nor the key-encryption key. No token is sent (these routes are
 * public); the URL rules and --ca-file are those of `rotate --server`: https, or http only to a loopback address.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import type { CaCertificateInfo } from "../ca/index.js";
import { MtlsError } from "../errors.js";
import type { CaRotationStatus } from "../rotation/ca-rotation.js";
import type { ServiceStatus } from "../rotation/serving-types.js";
import type { CaShowResult } from "./ca-show.js";
import type { EnvoyResult } from "./envoy.js";
import { parseServer, readCa, replyError, tlsFailure } from "./rotate-remote.js";
import type { StatusResult } from "./status.js";

export interface RemoteReadParams {
  /** `https://HOST:PORT` (or `http://` to a loopback listener). */
  server: string;
  /** PEM file of the root(s) that issued the API's certificate; default the system's trust store. */
  caFile?: string;
  /** Milliseconds one request may take; default 60 s. */
  timeoutMs?: number;
}

interface PublicReply {
  status: number;
  body: unknown;
  text: string;
  /** The SPIFFE ID in the server certificate's URI SAN (https only), e.g. spiffe://example.org/id/swarm-mtls-api. */
  serverSpiffeId: string | null;
}

const READ_ONLY_WHY = "would read the CA's status over the network without TLS (anyone on the way could change what you see)";

/** A client of one server's public routes. */
export interface PublicApi {
  origin: string;
  get(path: string): Promise<PublicReply>;
}

export async function publicApi(p: RemoteReadParams): Promise<PublicApi> {
  const url = parseServer(p.server, READ_ONLY_WHY);
  const ca = await readCa(p.caFile);
  const timeoutMs = p.timeoutMs ?? 60_000;
  return { origin: url.origin, get: (path) => get(url, path, { ca, caFile: p.caFile, timeoutMs }) };
}

function get(url: URL, path: string, o: { ca: string | undefined; caFile: string | undefined; timeoutMs: number }): Promise<PublicReply> {
  const { ca, timeoutMs } = o;
  return new Promise((done, fail) => {
    const options = { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ""), port: url.port || (url.protocol === "https:" ? 443 : 80), path, method: "GET", headers: { accept: "application/json, text/yaml, */*" }, timeout: timeoutMs };
    const req = url.protocol === "https:" ? httpsRequest({ ...options, ...(ca ? { ca } : {}) }) : httpRequest(options);
    req.on("response", (res) => {
      const peer = url.protocol === "https:" ? (res.socket as TLSSocket).getPeerCertificate?.() : undefined;
      const serverSpiffeId = /URI:(spiffe:\/\/[^,\s]+)/.exec(peer?.subjectaltname ?? "")?.[1] ?? null;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        let body: unknown = null;
        if (/json/.test(String(res.headers["content-type"] ?? ""))) {
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON after all: keep the text */
          }
        }
        done({ status: res.statusCode ?? 0, body, text, serverSpiffeId });
      });
      res.on("error", fail);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)}s`)));
    req.on("error", (e: NodeJS.ErrnoException & { cert?: { subjectaltname?: string } }) => {
      fail(new MtlsError("docker", `GET ${url.origin}${path}: ${tlsFailure({ code: e.code, message: e.message, host: url.hostname, names: e.cert?.subjectaltname, caFile: o.caFile })}`));
    });
    req.end();
  });
}

async function getJson<T>(api: PublicApi, path: string): Promise<{ body: T; serverSpiffeId: string | null }> {
  const r = await api.get(path);
  if (r.status !== 200 || r.body === null) throw replyError({ status: r.status, headers: {}, body: r.body ?? r.text }, `GET ${path}`);
  return { body: r.body as T, serverSpiffeId: r.serverSpiffeId };
}

/** The trust domain of a SPIFFE ID (spiffe://<td>/...), or null. Pure. */
export function trustDomainOfSpiffeId(id: string | null): string | null {
  return id ? (/^spiffe:\/\/([^/]+)/.exec(id)?.[1] ?? null) : null;
}

/**
 * A row of GET /v1/services as `status` prints it: the same row type (`status --json` and the API share it), with the
 * time left counted here, now, as a local status would count it rather than when the server gathered its fleet. Pure.
 */
export function statusRowFromApi(s: ServiceStatus, now: Date): ServiceStatus {
  return { ...s, secondsLeft: s.notAfter === null ? null : Math.round((Date.parse(s.notAfter) - now.getTime()) / 1000) };
}

interface ApiCa {
  certificates: (Omit<CaCertificateInfo, "notBefore" | "notAfter"> & { notBefore: string; notAfter: string })[];
  rotation?: CaRotationStatus;
}

/**
 * `status --server`: the service rows and the CA rotation of the server. What the API does not publish is left out,
 * not guessed: the mode (swarm or embedded), the rotation lease, and over plain HTTP the trust domain.
 */
export async function remoteStatus(p: RemoteReadParams, now: () => Date = () => new Date()): Promise<StatusResult> {
  const api = await publicApi(p);
  const [services, ca] = await Promise.all([getJson<{ services: ServiceStatus[] }>(api, "/v1/services"), getJson<ApiCa>(api, "/v1/ca")]);
  const at = now();
  const trustDomain = trustDomainOfSpiffeId(ca.serverSpiffeId);
  return {
    store: api.origin,
    ...(trustDomain === null ? {} : { trustDomain }),
    services: services.body.services.map((s) => statusRowFromApi(s, at)),
    caRotation: ca.body.rotation ?? null,
  };
}

/** `ca show --server`: the certificates of GET /v1/ca; the trust domain from the API certificate's SPIFFE ID (https). */
export async function remoteCaShow(p: RemoteReadParams): Promise<CaShowResult> {
  const api = await publicApi(p);
  const { body, serverSpiffeId } = await getJson<ApiCa>(api, "/v1/ca");
  return {
    store: api.origin,
    trustDomain: trustDomainOfSpiffeId(serverSpiffeId),
    certificates: body.certificates.map((c) => ({ ...c, notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter) })),
  };
}

/** `envoy <service> --server`: a service name or identity resolved through GET /v1/services, then its bootstrap. */
export async function remoteEnvoyBootstrap(p: RemoteReadParams, name: string): Promise<Required<Pick<EnvoyResult, "service" | "yaml">>> {
  const api = await publicApi(p);
  const known = (await getJson<{ services: ServiceStatus[] }>(api, "/v1/services")).body.services;
  const hit = known.find((s) => s.service === name) ?? known.find((s) => s.identity === name);
  if (!hit) throw new MtlsError("bad-input", `no service named '${name}' on ${api.origin}`);
  const path = `/v1/envoy/${encodeURIComponent(hit.identity)}/bootstrap.yaml`;
  const r = await api.get(path);
  if (r.status !== 200) throw replyError({ status: r.status, headers: {}, body: r.body ?? r.text }, `GET ${path}`);
  return { service: hit.service, yaml: r.text };
}

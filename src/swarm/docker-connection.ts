import { homedir } from "node:os";
import { join } from "node:path";

/** Where and how to reach the Docker engine. */
export interface DockerConnectionParams {
  /**
   * Engine address as DOCKER_HOST takes it: `unix:///path`, `tcp://host:2376`, `https://host:2376`, `http://host:2375`.
   * Default: `socketPath`.
   */
  host?: string;
  /** Verify the engine with TLS client certificates from `certPath` (DOCKER_TLS_VERIFY). Default false. */
  tlsVerify?: boolean;
  /** Folder holding `ca.pem`, `cert.pem`, `key.pem` (DOCKER_CERT_PATH). Default `~/.docker` when TLS is used. */
  certPath?: string;
  /** Unix socket when no TCP `host` is given. Default `/var/run/docker.sock`. */
  socketPath?: string;
  /** Per-request timeout in ms (not applied to the event stream). Default 30 000. */
  timeoutMs?: number;
}

/**
 * Reads the docker CLI's environment variables (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH,
 * DOCKER_CLIENT_TIMEOUT in seconds) into connection params. Pure: the config layer passes `process.env` in.
 */
export function dockerConnectionFromEnv(env: NodeJS.ProcessEnv): DockerConnectionParams {
  const p: DockerConnectionParams = {};
  const host = env.DOCKER_HOST?.trim();
  if (host) {
    if (host.startsWith("unix://")) p.socketPath = host.slice("unix://".length) || "/var/run/docker.sock";
    else p.host = host;
  }
  const verify = env.DOCKER_TLS_VERIFY?.trim();
  // The docker CLI treats any non-empty DOCKER_TLS_VERIFY as "on".
  if (verify !== undefined && verify !== "" && verify !== "0" && verify.toLowerCase() !== "false") p.tlsVerify = true;
  if (env.DOCKER_CERT_PATH?.trim()) p.certPath = env.DOCKER_CERT_PATH.trim();
  const timeout = Number(env.DOCKER_CLIENT_TIMEOUT);
  if (env.DOCKER_CLIENT_TIMEOUT && Number.isFinite(timeout) && timeout > 0) p.timeoutMs = timeout * 1000;
  return p;
}

/** The concrete endpoint a DockerConnectionParams resolves to. Pure (the home dir is passed in). */
export interface DockerEndpoint {
  socketPath?: string;
  protocol?: "http" | "https";
  hostname?: string;
  port?: number;
  /** Files to read for TLS, when protocol is https. */
  tls?: { caFile: string; certFile: string; keyFile: string; verify: boolean };
  timeoutMs: number;
}

export function resolveDockerEndpoint(p: DockerConnectionParams, home: string = homedir()): DockerEndpoint {
  const timeoutMs = p.timeoutMs ?? 30_000;
  if (!p.host || p.host.startsWith("unix://")) {
    const fromHost = p.host?.slice("unix://".length);
    return { socketPath: fromHost || p.socketPath || "/var/run/docker.sock", timeoutMs };
  }
  const raw = p.host.includes("://") ? p.host : `tcp://${p.host}`;
  const u = new URL(raw);
  if (!["tcp:", "http:", "https:"].includes(u.protocol)) {
    throw new Error(`unsupported docker host scheme ${u.protocol} (use unix://, tcp://, http:// or https://)`);
  }
  const port = u.port ? Number(u.port) : u.protocol === "http:" ? 2375 : 2376;
  // As the docker CLI: TLS when DOCKER_TLS_VERIFY is on (or the address says https); client certs from certPath.
  const https = u.protocol === "https:" || p.tlsVerify === true;
  const endpoint: DockerEndpoint = { protocol: https ? "https" : "http", hostname: u.hostname, port, timeoutMs };
  if (https && (p.tlsVerify === true || p.certPath !== undefined)) {
    const dir = p.certPath ?? join(home, ".docker");
    // The engine's certificate is always verified against ca.pem: a cert path without DOCKER_TLS_VERIFY (an https://
    // address) must not turn verification off, or anyone on the path could pose as the engine and get our spec writes.
    endpoint.tls = { caFile: join(dir, "ca.pem"), certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem"), verify: true };
  }
  return endpoint;
}

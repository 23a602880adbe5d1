import { MtlsError, isMtlsError } from "../errors.js";

/** What we keep of a failed engine call: the HTTP status and the engine's own message. Never request bodies. */
export interface DockerCallFailure {
  /** e.g. `update service api`. */
  call: string;
  /** HTTP status the engine answered, absent when it could not be reached. */
  statusCode?: number;
  /** The engine's message (`{"message": …}`) or the transport error's message. */
  engineMessage: string;
}

/** Extracts status and message from a dockerode/docker-modem error (or a socket error). Pure. */
export function readDockerFailure(call: string, e: unknown): DockerCallFailure {
  const o = (e ?? {}) as { statusCode?: unknown; json?: unknown; message?: unknown; code?: unknown };
  const statusCode = typeof o.statusCode === "number" ? o.statusCode : undefined;
  let engineMessage = "";
  const json = o.json as { message?: unknown } | string | null | undefined;
  if (json && typeof json === "object" && typeof json.message === "string") engineMessage = json.message;
  else if (typeof json === "string" && json.trim() !== "") engineMessage = json.trim();
  else if (typeof o.message === "string") {
    // docker-modem: "(HTTP code 500) server error - <engine message> "
    engineMessage = o.message.replace(/^\(HTTP code \d+\) [^-]*- /, "").trim();
  } else engineMessage = String(e);
  if (statusCode === undefined && typeof o.code === "string" && !engineMessage.includes(o.code)) {
    engineMessage = `${o.code} ${engineMessage}`.trim();
  }
  return { call, ...(statusCode !== undefined ? { statusCode } : {}), engineMessage };
}

/** The cause attached to every MtlsError("docker"/"not-found") raised by the Docker adapter. */
export class DockerCallError extends Error {
  readonly call: string;
  readonly statusCode: number | undefined;
  readonly engineMessage: string;
  constructor(f: DockerCallFailure) {
    super(`${f.statusCode ?? "no answer"} ${f.engineMessage}`);
    this.name = "DockerCallError";
    this.call = f.call;
    this.statusCode = f.statusCode;
    this.engineMessage = f.engineMessage;
  }
}

/**
 * Maps a failed engine call to our error: 404 → `not-found`, anything else → `docker`, message
 * `docker: <call> failed: <status> <engine message>`. The cause is a DockerCallError (never the request).
 */
export function dockerError(call: string, e: unknown): MtlsError {
  if (isMtlsError(e)) return e;
  const f = readDockerFailure(call, e);
  const cause = new DockerCallError(f);
  if (f.statusCode === 404) return new MtlsError("not-found", `docker: ${call} failed: not found (${f.engineMessage})`, { cause });
  const status = f.statusCode === undefined ? "engine unreachable:" : String(f.statusCode);
  return new MtlsError("docker", `docker: ${call} failed: ${status} ${f.engineMessage}`, { cause });
}

function failureOf(e: unknown): DockerCallError | undefined {
  return isMtlsError(e) && e.cause instanceof DockerCallError ? e.cause : undefined;
}

/** True when a service update was refused because the version we sent is stale ("update out of sequence"). */
export function isOutOfSequence(e: unknown): boolean {
  return failureOf(e)?.engineMessage.includes("update out of sequence") ?? false;
}

/** True when a create was refused because an object with that name exists (HTTP 409 / AlreadyExists). */
export function isNameConflict(e: unknown): boolean {
  const f = failureOf(e);
  return f !== undefined && (f.statusCode === 409 || /AlreadyExists|already exists/.test(f.engineMessage));
}

/** True when the engine said the object does not exist. */
export function isNotFound(e: unknown): boolean {
  return isMtlsError(e, "not-found");
}

/** HTTP status of a failed engine call, when it answered. */
export function dockerStatusCode(e: unknown): number | undefined {
  return failureOf(e)?.statusCode;
}

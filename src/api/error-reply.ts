/**
 * The one place where failures become HTTP replies: RFC 9457 problem details (`application/problem+json`):
 * `{type, title, status, detail, instance, code}` plus `error: {code, message}`, the body of earlier versions, kept
 * for their clients. `type` is `about:blank` (the status says it all; `title` is its phrase) and `code` is ours.
 * - MtlsError → status from `httpStatusFor`, its (safe by contract) message for 4xx; for 5xx only an authenticated
 *   admin gets the message (it can carry the engine's reply or the key-encryption key's path), anyone else a generic
 *   text naming the kind of failure; `internal` hides the message from everyone. The detail goes to the log.
 * - request errors found by fastify (schema, malformed JSON, body too large, media type) → their 4xx, `bad-input`.
 * - anything else → 500 with a generic message; the details go to the log only.
 */
import { STATUS_CODES } from "node:http";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { MtlsError, httpStatusFor, type ErrorCode } from "../errors.js";

export interface ErrorReplyBody {
  error: { code: ErrorCode; message: string };
}

/** RFC 9457 problem details, with our error code as an extension member and the pre-9457 `error` object. */
export interface ProblemBody extends ErrorReplyBody {
  type: "about:blank";
  title: string;
  status: number;
  detail: string;
  /** The request path (no query string). */
  instance: string;
  code: ErrorCode;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8";

/** The problem-details body of an error reply. Pure. */
export function problemBody(status: number, body: ErrorReplyBody, url: string): ProblemBody {
  const path = url.split("?")[0] ?? "";
  return {
    type: "about:blank",
    title: STATUS_CODES[status] ?? "Error",
    status,
    detail: body.error.message,
    instance: path.length > 200 ? `${path.slice(0, 200)}…` : path,
    code: body.error.code,
    error: body.error,
  };
}

export const GENERIC_INTERNAL_MESSAGE = "internal error; see the swarm-mtls log";

/** What callers who are not an authenticated admin are told of a server-side failure: its kind, never its text. */
export const PUBLIC_SERVER_MESSAGES: Partial<Record<ErrorCode, string>> = {
  kek: "the CA state cannot be opened; see the swarm-mtls log",
  "no-ca": "no CA is available yet; see the swarm-mtls log",
  docker: "the Docker engine could not be reached or refused a call; see the swarm-mtls log",
  "rollout-failed": "the rollout failed; see the swarm-mtls log",
  timeout: "the operation timed out; see the swarm-mtls log",
};
export const WWW_AUTHENTICATE = 'Bearer realm="swarm-mtls"';

/**
 * Status and body for an error; pure, so the mapping is testable on its own. `detailed`: the caller is an
 * authenticated admin, who may read a server-side failure's own message.
 */
export function errorReplyFor(err: unknown, request?: { contentType?: string; detailed?: boolean }): { status: number; body: ErrorReplyBody; logLevel: "info" | "warn" | "error" } {
  if (err instanceof MtlsError) {
    const status = httpStatusFor(err);
    const message = err.code === "internal" ? GENERIC_INTERNAL_MESSAGE
      : status >= 500 && request?.detailed !== true ? (PUBLIC_SERVER_MESSAGES[err.code] ?? GENERIC_INTERNAL_MESSAGE)
        : err.message;
    return { status, body: { error: { code: err.code, message } }, logLevel: status >= 500 ? "error" : "info" };
  }
  const fe = err as Partial<FastifyError> | null;
  const status = typeof fe?.statusCode === "number" ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code: ErrorCode = status === 401 ? "unauthorized" : status === 404 ? "not-found" : "bad-input";
    const mediaType = request?.contentType?.split(";")[0]?.trim().toLowerCase();
    const message = fe?.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
      ? `unsupported content-type${mediaType && /^[\w.+-]+\/[\w.+-]+$/.test(mediaType) ? ` '${mediaType}'` : ""}; send application/json`
      : typeof fe?.message === "string" && fe.message !== "" ? fe.message : "bad request";
    return { status, body: { error: { code, message } }, logLevel: "info" };
  }
  return { status: 500, body: { error: { code: "internal", message: GENERIC_INTERNAL_MESSAGE } }, logLevel: "error" };
}

/** Fastify error handler; `detailed(request)`: whether the caller may read a 5xx's own message (an admin). */
export function handleApiError(err: unknown, request: FastifyRequest, reply: FastifyReply, detailed: (request: FastifyRequest) => boolean = () => false): FastifyReply {
  const contentType = request.headers["content-type"];
  const { status, body, logLevel } = errorReplyFor(err, { ...(typeof contentType === "string" ? { contentType } : {}), detailed: detailed(request) });
  if (logLevel === "error") request.log.error({ err }, "request failed");
  else request.log[logLevel]({ code: body.error.code, status }, body.error.message);
  if (status === 401) reply.header("www-authenticate", WWW_AUTHENTICATE);
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(problemBody(status, body, request.url));
}

/** Reply for a URL no route matches. */
export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split("?")[0] ?? "";
  const shown = path.length > 120 ? `${path.slice(0, 120)}…` : path;
  const body: ErrorReplyBody = { error: { code: "not-found", message: `no route for ${request.method} ${shown}` } };
  return reply.code(404).type(PROBLEM_CONTENT_TYPE).send(problemBody(404, body, request.url));
}

interface AjvErrorLike {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * Turns schema validation errors into one message that names the field, e.g. `body.csr is required`,
 * `body has unknown field "forced"`, `params.identity must match pattern "…"`.
 */
export function formatSchemaErrors(errors: readonly AjvErrorLike[], dataVar: string): Error {
  const parts: string[] = [];
  for (const e of errors) {
    const where = dataVar + (e.instancePath ?? "").replace(/\//g, ".");
    let text: string;
    if (e.keyword === "required" && typeof e.params?.missingProperty === "string") {
      text = `${where}.${e.params.missingProperty} is required`;
    } else if (e.keyword === "additionalProperties" && typeof e.params?.additionalProperty === "string") {
      text = `${where} has unknown field "${e.params.additionalProperty}"`;
    } else {
      text = `${where} ${e.message ?? "is invalid"}`;
    }
    if (!parts.includes(text)) parts.push(text);
  }
  return new Error(parts.join("; ") || `${dataVar} is invalid`);
}

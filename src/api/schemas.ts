/**
 * JSON schemas of the HTTP API: requests are validated with them (bad input never reaches the control plane) and
 * responses are serialized through them (a field not listed here is never sent). They also make the OpenAPI document.
 */
import { KEY_ALGORITHMS } from "../ca/types.js";
import { DURATION_PATTERN } from "../config/duration.js";
import { MIN_LEAF_TTL_SECONDS } from "../config/leaf-ttl.js";

/** Identity names as they appear in URLs: no slash, no leading dot, so no path traversal. */
export const IDENTITY_PATTERN = "^[a-z0-9][a-z0-9._-]{0,62}$";
/** A DNS name, optionally a leading wildcard label; whether it is allowed is the control plane's policy. */
export const DNS_NAME_PATTERN = "^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$";
/** A lifetime: the one duration grammar of config, labels and CLI (`90m`, `1h30m`, `7d`). */
export const TTL_PATTERN = DURATION_PATTERN;
export const CSR_PATTERN = "^\\s*-----BEGIN (NEW )?CERTIFICATE REQUEST-----";

export const ERROR_CODES = [
  "bad-input", "kek", "no-ca", "ca-exists", "not-found", "unauthorized", "forbidden", "lease-held", "docker", "rollout-failed",
  "timeout", "rate-limited", "internal",
] as const;

/** RFC 9457 problem details (application/problem+json) plus `error`, the body of earlier versions. */
export const errorReplySchema = {
  $id: "ErrorReply",
  title: "ErrorReply",
  type: "object",
  required: ["type", "title", "status", "detail", "instance", "code", "error"],
  properties: {
    type: { type: "string", description: "about:blank: the HTTP status says what kind of problem it is" },
    title: { type: "string", description: "the HTTP status phrase" },
    status: { type: "integer" },
    detail: { type: "string", description: "what went wrong, for a human" },
    instance: { type: "string", description: "the request path" },
    code: { type: "string", enum: ERROR_CODES, description: "swarm-mtls error code" },
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string", enum: ERROR_CODES },
        message: { type: "string" },
      },
    },
  },
} as const;

const errorRef = { $ref: "ErrorReply#" } as const;

/** Error replies for the listed statuses, all with the same body. */
export function errorResponses(...statuses: number[]): Record<number, typeof errorRef> {
  return Object.fromEntries(statuses.map((s) => [s, errorRef]));
}

export const identityParamsSchema = {
  type: "object",
  required: ["identity"],
  additionalProperties: false,
  properties: { identity: { type: "string", pattern: IDENTITY_PATTERN, description: "identity name" } },
} as const;

const nullableString = { type: ["string", "null"] } as const;

export const serviceStatusSchema = {
  type: "object",
  required: ["identity", "service", "generation", "serial", "notAfter", "secondsLeft", "nextRotation", "issuer", "state"],
  properties: {
    identity: { type: "string" },
    service: { type: "string" },
    generation: { type: "integer" },
    serial: nullableString,
    notAfter: { ...nullableString, description: "leaf expiry, ISO 8601" },
    secondsLeft: { type: ["integer", "null"] },
    nextRotation: { ...nullableString, description: "planned rotation time, ISO 8601" },
    issuer: { ...nullableString, description: "fingerprint of the issuing intermediate" },
    state: { type: "string", enum: ["ok", "due", "missing", "error"] },
    reason: { type: "string" },
    retryAt: { type: "string", description: "the last rollout failed: not retried before this time (ISO 8601) unless forced or the service changes" },
  },
} as const;

export const caCertificateSchema = {
  type: "object",
  required: ["role", "subject", "issuer", "serial", "fingerprint", "notBefore", "notAfter", "keyAlgorithm", "keyOnline", "pem"],
  properties: {
    role: { type: "string", enum: ["root", "intermediate"] },
    subject: { type: "string" },
    issuer: { type: "string" },
    serial: { type: "string" },
    fingerprint: { type: "string", description: "SHA-256 of the DER, lower-case hex" },
    notBefore: { type: "string", format: "date-time" },
    notAfter: { type: "string", format: "date-time" },
    keyAlgorithm: { type: "string", enum: KEY_ALGORITHMS },
    keyOnline: { type: "boolean" },
    pem: { type: "string", description: "the certificate (public)" },
  },
} as const;

const fingerprint = { type: "string", description: "SHA-256 of the DER, lower-case hex" } as const;

/** A CA rotation as `GET /v1/ca` shows it: phase, next step, fingerprints and services done / total. */
export const caRotationSchema = {
  type: "object",
  required: ["id", "kind", "phase", "next", "startedAt", "fingerprints"],
  properties: {
    id: { type: "string" },
    kind: { type: "string", enum: ["intermediate", "root"] },
    phase: { type: "string", enum: ["prepared", "trusted", "issued", "complete"] },
    next: { type: "string", enum: ["prepare", "trust", "issue", "retire", "complete"] },
    startedAt: { type: "string", format: "date-time" },
    history: { type: "array", items: { type: "object", properties: { phase: { type: "string" }, at: { type: "string", format: "date-time" } } } },
    fingerprints: {
      type: "object",
      required: ["oldIntermediate", "newIntermediate"],
      properties: { oldIntermediate: fingerprint, newIntermediate: fingerprint, oldRoot: fingerprint, newRoot: fingerprint, cross: fingerprint },
    },
    progress: {
      type: "object",
      properties: {
        total: { type: "integer" },
        onCurrentBundle: { type: "integer" },
        onNewIntermediate: { type: "integer" },
        pending: { type: "array", items: { type: "string" } },
      },
    },
    retired: { type: "integer" },
  },
} as const;

export const rotateBodySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    force: { type: "boolean", description: "rotate even when not due; default false" },
    dryRun: { type: "boolean", description: "plan only, change nothing; default false" },
  },
} as const;

export const rotationOutcomeSchema = {
  type: "object",
  required: ["identity", "service", "action", "reason", "generationBefore", "generationAfter"],
  properties: {
    identity: { type: "string" },
    service: { type: "string" },
    action: { type: "string", enum: ["rotated", "reattached", "skipped", "failed", "planned"] },
    reason: { type: "string" },
    generationBefore: { type: "integer" },
    generationAfter: { type: "integer" },
    error: { type: "string" },
  },
} as const;

export const rotateReplySchema = {
  type: "object",
  required: ["outcomes"],
  properties: { outcomes: { type: "array", items: rotationOutcomeSchema } },
} as const;

export const signBodySchema = {
  type: "object",
  required: ["identity", "csr"],
  additionalProperties: false,
  properties: {
    identity: { type: "string", pattern: IDENTITY_PATTERN },
    csr: { type: "string", pattern: CSR_PATTERN, maxLength: 16384, description: "PEM PKCS#10 request" },
    ttl: {
      type: ["string", "integer"],
      pattern: TTL_PATTERN,
      minimum: MIN_LEAF_TTL_SECONDS,
      description: "lifetime: 90m, 1h30m, 24h, 7d or seconds; at least 5m; default the identity's",
    },
    dns: {
      type: "array",
      maxItems: 32,
      uniqueItems: true,
      items: { type: "string", maxLength: 253, pattern: DNS_NAME_PATTERN },
      description: "DNS SANs; default the identity's names",
    },
  },
} as const;

export const signReplySchema = {
  type: "object",
  required: ["identity", "serial", "notAfter", "chainPem", "bundlePem"],
  properties: {
    identity: { type: "string" },
    serial: { type: "string" },
    notAfter: { type: "string", description: "ISO 8601" },
    chainPem: { type: "string", description: "leaf + intermediate" },
    bundlePem: { type: "string", description: "trust bundle" },
  },
} as const;

/** A text response (bundle, bootstrap, metrics) described for OpenAPI; the payload is sent as-is. */
export function textResponse(contentType: string, description: string) {
  return { description, content: { [contentType]: { schema: { type: "string" } } } };
}

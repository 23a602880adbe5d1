/**
 * The one error type of swarm-mtls. Every failure an operator can see carries a code from a closed set,
 * a message that is safe to print (never key material), and optionally the underlying cause.
 * The CLI maps codes to exit codes, the API to HTTP statuses.
 */
export type ErrorCode =
  /** Bad input from the operator: flags, labels, config, CSR, HTTP body. Exit 2 / HTTP 400. */
  | "bad-input"
  /** The key-encryption key is missing, malformed or does not open the CA state. Exit 2 / HTTP 500. */
  | "kek"
  /** No CA has been initialised in the store. Exit 2 / HTTP 503. */
  | "no-ca"
  /** A CA already exists and --force was not given. Exit 2 / HTTP 409. */
  | "ca-exists"
  /** The thing asked for does not exist (identity, service, file). Exit 2 / HTTP 404. */
  | "not-found"
  /** Authentication missing or wrong. HTTP 401. */
  | "unauthorized"
  /** Authenticated, but not allowed this (e.g. an identity not opted in renewing its certificate). Exit 2 / HTTP 403. */
  | "forbidden"
  /** Another rotator holds the lease. Exit 3 / HTTP 409. */
  | "lease-held"
  /** The Docker engine could not be reached or refused a call. Exit 1 / HTTP 502. */
  | "docker"
  /** A rollout failed (and was rolled back). Exit 1 / HTTP 500. */
  | "rollout-failed"
  /** A wait ran out of time. Exit 1 / HTTP 504. */
  | "timeout"
  /** Too many requests from one client address. Exit 1 / HTTP 429 (with Retry-After). */
  | "rate-limited"
  /** A bug or an unexpected state. Exit 1 / HTTP 500. */
  | "internal";

export class MtlsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MtlsError";
    this.code = code;
  }
}

export function isMtlsError(e: unknown, code?: ErrorCode): e is MtlsError {
  return e instanceof MtlsError && (code === undefined || e.code === code);
}

/** Keeps error messages on one printable line, whatever the operator typed. */
export function printable(value: unknown, max = 80): string {
  const s = String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Shorthand for the most common failure: bad operator input. */
export function badInput(message: string, cause?: unknown): MtlsError {
  return new MtlsError("bad-input", message, cause === undefined ? undefined : { cause });
}

const EXIT_CODES: Record<ErrorCode, number> = {
  "bad-input": 2,
  kek: 2,
  "no-ca": 2,
  "ca-exists": 2,
  "not-found": 2,
  unauthorized: 2,
  forbidden: 2,
  "lease-held": 3,
  docker: 1,
  "rollout-failed": 1,
  timeout: 1,
  "rate-limited": 1,
  internal: 1,
};

const HTTP_STATUSES: Record<ErrorCode, number> = {
  "bad-input": 400,
  kek: 500,
  "no-ca": 503,
  "ca-exists": 409,
  "not-found": 404,
  unauthorized: 401,
  forbidden: 403,
  "lease-held": 409,
  docker: 502,
  "rollout-failed": 500,
  timeout: 504,
  "rate-limited": 429,
  internal: 500,
};

export function exitCodeFor(e: unknown): number {
  return e instanceof MtlsError ? EXIT_CODES[e.code] : 1;
}

export function httpStatusFor(e: unknown): number {
  return e instanceof MtlsError ? HTTP_STATUSES[e.code] : 500;
}

/**
 * The data `serve` hands to the HTTP API (and the API to clients): service status, rotation outcomes, CSR signing.
 * Defined here, where they are produced; src/api re-exports them.
 */

/**
 * One row of `status` and `GET /v1/services`: what an operator asks of a service's certificate (swarm mode) or of a
 * configured identity's (embedded mode). `status --json` and the API print it as it is.
 */
export interface ServiceStatus {
  /** Identity name (label `mtls.identity`, default the service name); the service name when its labels are invalid. */
  identity: string;
  /** Swarm service name (embedded mode: the identity). */
  service: string;
  /** Generation of the attached certificate secrets; 0 when nothing was issued yet. */
  generation: number;
  /** Serial of the current leaf, lower-case hex; null when none. */
  serial: string | null;
  /** Expiry of the current leaf, ISO 8601; null when none. */
  notAfter: string | null;
  /** Seconds until the current leaf expires (negative when expired); null when none. */
  secondsLeft: number | null;
  /** When the next rotation is planned, ISO 8601; null when unknown. */
  nextRotation: string | null;
  /** Fingerprint of the issuing intermediate; null when none. */
  issuer: string | null;
  state: "ok" | "due" | "missing" | "error";
  /** Why the state is not `ok`; absent when there is nothing to say. */
  reason?: string;
  /** The service's last rollout failed: serve does not retry it before this time (ISO 8601) unless forced or changed. */
  retryAt?: string;
}

export interface RotateRequest {
  /** Rotate even when the certificate is not due; default false. */
  force?: boolean;
  /** Only plan: report what would happen, change nothing; default false. */
  dryRun?: boolean;
}

export interface RotationOutcome {
  identity: string;
  service: string;
  action: "rotated" | "reattached" | "skipped" | "failed" | "planned";
  /** Why this action (planner reason, or the failure). */
  reason: string;
  generationBefore: number;
  generationAfter: number;
  /** Safe error message when action is `failed`. */
  error?: string;
}

export interface SignCsrInput {
  /** Identity the certificate is for. */
  identity: string;
  /** PEM PKCS#10 certificate request. */
  csrPem: string;
  /** Requested lifetime in seconds; default the identity's / CA's default. Bounded by policy. */
  ttlSeconds?: number;
  /** Requested DNS SANs; default the identity's names. Must be allowed by policy. */
  dnsNames?: string[];
}

export interface SignedCsr {
  /** Leaf + intermediate, PEM. */
  chainPem: string;
  /** Serial, lower-case hex. */
  serial: string;
  /** ISO 8601. */
  notAfter: string;
  /** Trust bundle PEM. */
  bundlePem: string;
}

/**
 * What the HTTP API needs from the rest of swarm-mtls. The API layer only speaks HTTP: it validates, authenticates
 * and maps errors; every decision and every change happens behind this interface (implemented by the serve command).
 */
import type { CaCertificateInfo } from "../ca/types.js";

/** What `swarm-mtls status` shows for one opted-in service, as JSON. */
export interface ServiceStatus {
  /** Identity name (label `mtls.identity`, default the service name). */
  identity: string;
  /** Swarm service name. */
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
  /** Why the state is not `ok`. */
  reason?: string;
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

/** A CA rotation as the API shows it (public data: fingerprints and service names only). */
export interface CaRotationView {
  id: string;
  kind: "intermediate" | "root";
  phase: "prepared" | "trusted" | "issued" | "complete";
  next: string;
  startedAt: string;
  history: { phase: string; at: string }[];
  fingerprints: { oldIntermediate: string; newIntermediate: string; oldRoot?: string; newRoot?: string; cross?: string };
  progress?: { total: number; onCurrentBundle: number; onNewIntermediate: number; pending: string[] };
  retired: number;
}

export interface ControlPlane {
  /** Store reachable and CA loaded. */
  ready(): Promise<{ ready: boolean; reason?: string }>;
  /** Public trust bundle, PEM. */
  bundlePem(): Promise<string>;
  /** CA certificates (root(s) and intermediate(s)); public data only. */
  caInfo(): Promise<CaCertificateInfo[]>;
  /** The last or running CA rotation (phase, fingerprints, services done / total); null when none ever ran. Optional. */
  caRotation?(): Promise<CaRotationView | null>;
  listServices(): Promise<ServiceStatus[]>;
  /** Throws MtlsError("not-found") for an unknown identity. */
  getService(identity: string): Promise<ServiceStatus>;
  /** Rotate one identity, or every opted-in service when `identity` is null. `actor` is recorded in the audit log. */
  rotate(identity: string | null, req: RotateRequest, actor: string): Promise<RotationOutcome[]>;
  /** Envoy bootstrap YAML; MtlsError("not-found") when the identity has no Envoy sidecar. */
  envoyBootstrap(identity: string): Promise<string>;
  /** Sign a CSR after policy checks; MtlsError("bad-input") on a policy violation. */
  signCsr(p: SignCsrInput, actor: string): Promise<SignedCsr>;
}

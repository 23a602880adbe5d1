/**
 * What the HTTP API needs from the rest of swarm-mtls. The API layer only speaks HTTP: it validates, authenticates
 * and maps errors; every decision and every change happens behind this interface (implemented by the serve command).
 */
import type { CaCertificateInfo } from "../ca/types.js";
import type { ErrorCode } from "../errors.js";

export type { ServiceStatus, RotateRequest, RotationOutcome, SignCsrInput, SignedCsr } from "../rotation/serving-types.js";
import type { ServiceStatus, RotateRequest, RotationOutcome, SignCsrInput, SignedCsr } from "../rotation/serving-types.js";

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
  /** Store reachable and CA loaded; when not, why (for the log) and the error code (for the public reply). */
  ready(): Promise<{ ready: boolean; reason?: string; code?: ErrorCode }>;
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

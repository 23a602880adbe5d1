/**
 * Prometheus metrics of swarm-mtls. One registry, owned by a `Metrics` object that the rest of the service records
 * into (rollout, scheduler, store) and that `GET /metrics` renders.
 *
 * The certificate series follow cert-manager's shape (`certmanager_certificate_expiration_timestamp_seconds`,
 * `…_renewal_timestamp_seconds`, `…_ready_status{condition}`, label `name`) with the prefix `swarm_mtls_`, so the
 * alerts and dashboards operators already have carry over by renaming the prefix. Timestamps are Unix seconds, the
 * Prometheus convention (`time() - x` in queries), and need no clock at scrape time.
 *
 * Deprecated (kept until 0.3, see README "Monitoring"): `swarm_mtls_certificate_expiry_seconds{identity}` and
 * `swarm_mtls_ca_certificate_expiry_seconds`, "seconds until expiry" computed at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type RotationResult = "rotated" | "reattached" | "failed" | "skipped";

/** cert-manager's Ready condition: True = a valid certificate is attached, False = none or expired, Unknown = cannot tell. */
export type ReadyCondition = "True" | "False" | "Unknown";
export const READY_CONDITIONS: readonly ReadyCondition[] = ["True", "False", "Unknown"];

/** What the metrics know of one identity's certificate. */
export interface CertificateState {
  /** Expiry of the attached leaf; null when there is none. */
  notAfter: Date | null;
  /** When the leaf is due for renewal; null when unknown. */
  renewAt: Date | null;
  ready: ReadyCondition;
  /** A failed rollout of the identity is not retried before this time (serve's backoff); absent or null: not held back. */
  retryAt?: Date | null;
}

/** How a reconcile ended: `lease-held` = another rotator held the lease, nothing was done. */
export type ReconcileResult = "ok" | "failed" | "lease-held";

export interface Metrics {
  registry: Registry;
  /** One certificate issued with key algorithm `alg` (e.g. `ecdsa-p256`). */
  certificatesIssued(alg: string): void;
  /**
   * One rotation finished with `result`; `seconds` (rollout duration) feeds the duration histogram when given; a
   * failure with `identity` also counts in that identity's failure counter.
   */
  rotation(result: RotationResult, seconds?: number, identity?: string): void;
  /** The certificate state of `identity`; null forgets the identity (service gone or opted out). */
  setCertificate(identity: string, state: CertificateState | null): void;
  /** Shorthand: a valid leaf expiring at `notAfter` is attached (renewal time kept); null forgets the identity. */
  setLeafExpiry(identity: string, notAfter: Date | null): void;
  /** Forgets every identity not listed (called with all current identities after a full status read). */
  keepLeafExpiries(identities: readonly string[]): void;
  /** Expiry of one CA certificate. */
  setCaExpiry(role: string, fingerprint: string, notAfter: Date): void;
  /** Replace every CA expiry at once (drops certificates no longer in the CA state, e.g. after a CA rotation). */
  setCaExpiries(entries: { role: string; fingerprint: string; notAfter: Date }[]): void;
  /** A reconcile ended at `at` with `result`. */
  reconcileFinished(result: ReconcileResult, at: Date): void;
  /** Shorthand for reconcileFinished("ok", at). */
  reconcileSucceeded(at: Date): void;
}

export interface MetricsCreateParams {
  /** Wall clock in ms used to compute the deprecated "seconds until expiry" at scrape time; default `Date.now`. */
  now?: () => number;
  /** Also export Node process metrics (`swarm_mtls_process_*`, `swarm_mtls_nodejs_*`); default true. */
  processMetrics?: boolean;
}

/** Names of the series, for dashboards, alerts and tests. */
export const METRIC_NAMES = {
  certificatesIssued: "swarm_mtls_certificates_issued_total",
  rotations: "swarm_mtls_rotations_total",
  rotationDuration: "swarm_mtls_rotation_duration_seconds",
  certificateExpiration: "swarm_mtls_certificate_expiration_timestamp_seconds",
  certificateRenewal: "swarm_mtls_certificate_renewal_timestamp_seconds",
  certificateReady: "swarm_mtls_certificate_ready_status",
  rotationFailures: "swarm_mtls_certificate_rotation_failures_total",
  caExpiration: "swarm_mtls_ca_certificate_expiration_timestamp_seconds",
  lastReconcile: "swarm_mtls_last_reconcile_success_timestamp_seconds",
  reconciles: "swarm_mtls_reconciles_total",
  leaseBlockedSince: "swarm_mtls_lease_blocked_since_timestamp_seconds",
  rolloutRetry: "swarm_mtls_rollout_retry_timestamp_seconds",
  /** Deprecated: use certificateExpiration (`time()` minus it gives the same figure). */
  leafExpiry: "swarm_mtls_certificate_expiry_seconds",
  /** Deprecated: use caExpiration. */
  caExpiry: "swarm_mtls_ca_certificate_expiry_seconds",
} as const;

/** Rollouts take seconds to minutes (convergence of a service update). */
const ROTATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];

const unix = (d: Date): number => d.getTime() / 1000;

export function createMetrics(params: MetricsCreateParams = {}): Metrics {
  const now = params.now ?? Date.now;
  const registry = new Registry();
  if (params.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "swarm_mtls_" });

  const certificates = new Map<string, CertificateState>();
  const caExpiries = new Map<string, { role: string; fingerprint: string; notAfter: Date }>();
  const secondsUntil = (d: Date): number => Math.round((d.getTime() - now()) / 1000);
  /** A gauge recomputed from the maps at every scrape, so forgotten identities vanish at once. */
  const collected = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (set: (labels: Record<L, string>, v: number) => void) => void): Gauge<L> =>
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill((labels, v) => this.set(labels as never, v));
      },
    });

  const issued = new Counter({ name: METRIC_NAMES.certificatesIssued, help: "Certificates issued, by key algorithm.", labelNames: ["algorithm"] as const, registers: [registry] });
  const rotations = new Counter({ name: METRIC_NAMES.rotations, help: "Service certificate rotations, by result.", labelNames: ["result"] as const, registers: [registry] });
  const rotationDuration = new Histogram({
    name: METRIC_NAMES.rotationDuration,
    help: "Duration of one service rotation (issue, update, converge), by result.",
    labelNames: ["result"] as const,
    buckets: ROTATION_BUCKETS,
    registers: [registry],
  });
  const failures = new Counter({ name: METRIC_NAMES.rotationFailures, help: "Failed rotations of an identity's certificate (issue, publish or rollout failed).", labelNames: ["name"] as const, registers: [registry] });
  const reconciles = new Counter({ name: METRIC_NAMES.reconciles, help: "Reconciles of all services, by result (ok, failed, lease-held).", labelNames: ["result"] as const, registers: [registry] });

  collected(METRIC_NAMES.certificateExpiration, "Unix time the certificate attached to an identity expires (cert-manager shape; label name = identity).", ["name"], (set) => {
    for (const [name, c] of certificates) if (c.notAfter) set({ name }, unix(c.notAfter));
  });
  collected(METRIC_NAMES.certificateRenewal, "Unix time the certificate of an identity is due for renewal (cert-manager shape).", ["name"], (set) => {
    for (const [name, c] of certificates) if (c.renewAt) set({ name }, unix(c.renewAt));
  });
  collected(METRIC_NAMES.certificateReady, "Ready condition of an identity's certificate: 1 on the condition that holds (True, False, Unknown), 0 on the others.", ["name", "condition"], (set) => {
    for (const [name, c] of certificates) for (const condition of READY_CONDITIONS) set({ name, condition }, c.ready === condition ? 1 : 0);
  });
  collected(METRIC_NAMES.rolloutRetry, "Unix time before which serve does not retry the failed rollout of an identity (backoff; absent when none failed).", ["name"], (set) => {
    for (const [name, c] of certificates) if (c.retryAt) set({ name }, unix(c.retryAt));
  });
  collected(METRIC_NAMES.caExpiration, "Unix time a CA certificate expires, by role (root, intermediate, …) and SHA-256 fingerprint.", ["role", "fingerprint"], (set) => {
    for (const { role, fingerprint, notAfter } of caExpiries.values()) set({ role, fingerprint }, unix(notAfter));
  });
  collected(METRIC_NAMES.leafExpiry, `Deprecated (use ${METRIC_NAMES.certificateExpiration}): seconds until the certificate attached to an identity expires.`, ["identity"], (set) => {
    for (const [identity, c] of certificates) if (c.notAfter) set({ identity }, secondsUntil(c.notAfter));
  });
  collected(METRIC_NAMES.caExpiry, `Deprecated (use ${METRIC_NAMES.caExpiration}): seconds until a CA certificate expires.`, ["role", "fingerprint"], (set) => {
    for (const { role, fingerprint, notAfter } of caExpiries.values()) set({ role, fingerprint }, secondsUntil(notAfter));
  });
  const lastReconcile = new Gauge({ name: METRIC_NAMES.lastReconcile, help: "Unix time of the last reconcile that finished without error (0: none yet).", registers: [registry] });
  const leaseBlocked = new Gauge({
    name: METRIC_NAMES.leaseBlockedSince,
    help: "Unix time since which every reconcile found the rotation lease held by another rotator (0: not blocked).",
    registers: [registry],
  });

  const forget = (identity: string): void => {
    certificates.delete(identity);
    failures.remove({ name: identity });
  };

  const m: Metrics = {
    registry,
    certificatesIssued(alg) {
      issued.inc({ algorithm: alg });
    },
    rotation(result, seconds, identity) {
      rotations.inc({ result });
      if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) rotationDuration.observe({ result }, seconds);
      if (result === "failed" && identity) failures.inc({ name: identity });
    },
    setCertificate(identity, state) {
      if (state === null) return forget(identity);
      // The failure counter starts at 0 for every known identity, so increase() sees the first failure.
      if (!certificates.has(identity)) failures.inc({ name: identity }, 0);
      certificates.set(identity, { ...state });
    },
    setLeafExpiry(identity, notAfter) {
      m.setCertificate(identity, notAfter === null ? null : { notAfter, renewAt: certificates.get(identity)?.renewAt ?? null, ready: notAfter.getTime() > now() ? "True" : "False" });
    },
    keepLeafExpiries(identities) {
      const keep = new Set(identities);
      for (const identity of [...certificates.keys()]) if (!keep.has(identity)) forget(identity);
    },
    setCaExpiry(role, fingerprint, notAfter) {
      caExpiries.set(`${role}/${fingerprint}`, { role, fingerprint, notAfter });
    },
    setCaExpiries(entries) {
      caExpiries.clear();
      for (const e of entries) caExpiries.set(`${e.role}/${e.fingerprint}`, { ...e });
    },
    reconcileFinished(result, at) {
      reconciles.inc({ result });
      if (result === "ok") lastReconcile.set(unix(at));
      if (result !== "lease-held") leaseBlocked.set(0);
      else if (!leaseBlockedSince) leaseBlocked.set(unix(at));
      leaseBlockedSince = result === "lease-held" ? (leaseBlockedSince ?? at) : null;
    },
    reconcileSucceeded(at) {
      m.reconcileFinished("ok", at);
    },
  };
  let leaseBlockedSince: Date | null = null;
  return m;
}

/**
 * Prometheus metrics of swarm-mtls. One registry, owned by a `Metrics` object that the rest of the service records
 * into (rollout, scheduler, store) and that `GET /metrics` renders. Expiry gauges hold expiry dates and turn them into
 * "seconds until expiry" at scrape time, so they stay true between reconciles.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type RotationResult = "rotated" | "reattached" | "failed" | "skipped";

export interface Metrics {
  registry: Registry;
  /** One certificate issued with key algorithm `alg` (e.g. `ecdsa-p256`). */
  certificatesIssued(alg: string): void;
  /** One rotation finished with `result`; `seconds` (rollout duration) feeds the duration histogram when given. */
  rotation(result: RotationResult, seconds?: number): void;
  /** Expiry of the leaf attached to `identity`; null forgets the identity (service gone or opted out). */
  setLeafExpiry(identity: string, notAfter: Date | null): void;
  /** Forgets every identity not listed (called with all current identities after a full status read). */
  keepLeafExpiries(identities: readonly string[]): void;
  /** Expiry of one CA certificate. */
  setCaExpiry(role: string, fingerprint: string, notAfter: Date): void;
  /** Replace every CA expiry at once (drops certificates no longer in the CA state, e.g. after a CA rotation). */
  setCaExpiries(entries: { role: string; fingerprint: string; notAfter: Date }[]): void;
  /** A reconcile of all services finished without error. */
  reconcileSucceeded(at: Date): void;
}

export interface MetricsCreateParams {
  /** Wall clock in ms used to compute "seconds until expiry" at scrape time; default `Date.now`. */
  now?: () => number;
  /** Also export Node process metrics (`swarm_mtls_process_*`, `swarm_mtls_nodejs_*`); default true. */
  processMetrics?: boolean;
}

/** Names of the series, for dashboards, alerts and tests. */
export const METRIC_NAMES = {
  certificatesIssued: "swarm_mtls_certificates_issued_total",
  rotations: "swarm_mtls_rotations_total",
  rotationDuration: "swarm_mtls_rotation_duration_seconds",
  leafExpiry: "swarm_mtls_certificate_expiry_seconds",
  caExpiry: "swarm_mtls_ca_certificate_expiry_seconds",
  lastReconcile: "swarm_mtls_last_reconcile_success_timestamp_seconds",
} as const;

/** Rollouts take seconds to minutes (convergence of a service update). */
const ROTATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];

export function createMetrics(params: MetricsCreateParams = {}): Metrics {
  const now = params.now ?? Date.now;
  const registry = new Registry();
  if (params.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "swarm_mtls_" });

  const leafExpiries = new Map<string, Date>();
  const caExpiries = new Map<string, { role: string; fingerprint: string; notAfter: Date }>();
  const secondsUntil = (d: Date): number => Math.round((d.getTime() - now()) / 1000);

  const issued = new Counter({
    name: METRIC_NAMES.certificatesIssued,
    help: "Certificates issued, by key algorithm.",
    labelNames: ["algorithm"] as const,
    registers: [registry],
  });
  const rotations = new Counter({
    name: METRIC_NAMES.rotations,
    help: "Service certificate rotations, by result.",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const rotationDuration = new Histogram({
    name: METRIC_NAMES.rotationDuration,
    help: "Duration of one service rotation (issue, update, converge), by result.",
    labelNames: ["result"] as const,
    buckets: ROTATION_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: METRIC_NAMES.leafExpiry,
    help: "Seconds until the certificate attached to an identity expires (negative when expired).",
    labelNames: ["identity"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [identity, notAfter] of leafExpiries) this.set({ identity }, secondsUntil(notAfter));
    },
  });
  new Gauge({
    name: METRIC_NAMES.caExpiry,
    help: "Seconds until a CA certificate expires, by role and SHA-256 fingerprint.",
    labelNames: ["role", "fingerprint"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { role, fingerprint, notAfter } of caExpiries.values()) {
        this.set({ role, fingerprint }, secondsUntil(notAfter));
      }
    },
  });
  const lastReconcile = new Gauge({
    name: METRIC_NAMES.lastReconcile,
    help: "Unix time of the last reconcile that finished without error.",
    registers: [registry],
  });

  return {
    registry,
    certificatesIssued(alg) {
      issued.inc({ algorithm: alg });
    },
    rotation(result, seconds) {
      rotations.inc({ result });
      if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) rotationDuration.observe({ result }, seconds);
    },
    setLeafExpiry(identity, notAfter) {
      if (notAfter === null) leafExpiries.delete(identity);
      else leafExpiries.set(identity, notAfter);
    },
    keepLeafExpiries(identities) {
      const keep = new Set(identities);
      for (const identity of [...leafExpiries.keys()]) if (!keep.has(identity)) leafExpiries.delete(identity);
    },
    setCaExpiry(role, fingerprint, notAfter) {
      caExpiries.set(`${role}/${fingerprint}`, { role, fingerprint, notAfter });
    },
    setCaExpiries(entries) {
      caExpiries.clear();
      for (const e of entries) caExpiries.set(`${e.role}/${e.fingerprint}`, { ...e });
    },
    reconcileSucceeded(at) {
      lastReconcile.set(at.getTime() / 1000);
    },
  };
}

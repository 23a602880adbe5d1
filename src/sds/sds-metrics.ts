/**
 * Prometheus series of the SDS server, registered on serve's registry (so `GET /metrics` shows them): streams open
 * per identity, pushes, ACK/NACK counts, time from a push to its ACK, working-certificate expiry.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export const SDS_METRIC_NAMES = {
  streams: "swarm_mtls_sds_streams",
  pushes: "swarm_mtls_sds_pushes_total",
  responses: "swarm_mtls_sds_responses_total",
  refused: "swarm_mtls_sds_refused_total",
  pushAck: "swarm_mtls_sds_push_ack_seconds",
  workingIssued: "swarm_mtls_sds_working_certificates_issued_total",
  workingExpiry: "swarm_mtls_sds_working_certificate_expiry_seconds",
} as const;

export interface SdsMetrics {
  streamsOpen(identity: string, delta: 1 | -1): void;
  pushed(): void;
  response(kind: "ack" | "nack"): void;
  refused(reason: string): void;
  pushAcked(seconds: number): void;
  workingIssued(identity: string, notAfter: Date): void;
  forgetWorking(identity: string): void;
}

export function createSdsMetrics(registry: Registry, now: () => number = Date.now): SdsMetrics {
  const streams = new Gauge({ name: SDS_METRIC_NAMES.streams, help: "SDS streams open, by identity.", labelNames: ["identity"] as const, registers: [registry] });
  const pushes = new Counter({ name: SDS_METRIC_NAMES.pushes, help: "SDS responses sent on open streams (subscriptions and pushes of new versions).", registers: [registry] });
  const responses = new Counter({ name: SDS_METRIC_NAMES.responses, help: "SDS responses answered by the client, by kind (ack, nack).", labelNames: ["kind"] as const, registers: [registry] });
  const refused = new Counter({ name: SDS_METRIC_NAMES.refused, help: "SDS requests refused, by reason.", labelNames: ["reason"] as const, registers: [registry] });
  const pushAck = new Histogram({ name: SDS_METRIC_NAMES.pushAck, help: "Time from sending an SDS response to its ACK.", buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10], registers: [registry] });
  const issued = new Counter({ name: SDS_METRIC_NAMES.workingIssued, help: "Working certificates issued for SDS.", registers: [registry] });
  const expiries = new Map<string, Date>();
  new Gauge({
    name: SDS_METRIC_NAMES.workingExpiry,
    help: "Seconds until the working certificate served to an identity over SDS expires.",
    labelNames: ["identity"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [identity, d] of expiries) this.set({ identity }, Math.round((d.getTime() - now()) / 1000));
    },
  });
  const open = new Map<string, number>();
  return {
    streamsOpen(identity, delta) {
      const n = (open.get(identity) ?? 0) + delta;
      if (n <= 0) {
        open.delete(identity);
        streams.remove({ identity });
      } else {
        open.set(identity, n);
        streams.set({ identity }, n);
      }
    },
    pushed: () => pushes.inc(),
    response: (kind) => responses.inc({ kind }),
    refused: (reason) => refused.inc({ reason }),
    pushAcked: (s) => pushAck.observe(s),
    workingIssued(identity, notAfter) {
      issued.inc();
      expiries.set(identity, notAfter);
    },
    forgetWorking: (identity) => void expiries.delete(identity),
  };
}

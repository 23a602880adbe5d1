import { isOptedIn } from "../../rotation/service-identity.js";
import { ENVOY_DEFAULTS } from "../../envoy/envoy-sidecar-settings.js";
import { finding, type AuditCheck } from "../finding.js";
import { describePorts, publishedPorts, serviceObject, sh } from "../service-facts.js";

/** Ports that carry plain HTTP by convention; a managed service without a sidecar publishing one of them is flagged. */
export const PLAINTEXT_PORTS: readonly number[] = [80, 3000, 5000, 8000, 8008, 8080, 8888];

function labelPort(labels: Record<string, string>, key: string, fallback: number): number {
  const n = Number(labels[key]?.trim());
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : fallback;
}

/**
 * ENC002: a service opted in to mTLS also publishes a plain-text port. With the Envoy sidecar
 * (`<prefix>envoy=true`) every published port other than its mTLS listener and its readiness port counts; without
 * it, only the conventional plain-HTTP ports do (the app may terminate TLS itself on others).
 */
export const plaintextPortOnManagedService: AuditCheck = {
  id: "ENC002",
  title: "mTLS service also listens in plain text on a published port",
  severity: "high",
  why: "The certificate protects nothing if the same service is reachable without it: callers (and attackers) can skip mTLS by using the plain-text port.",
  run(inv, ctx) {
    const p = ctx.labelPrefix;
    return inv.services.flatMap((s) => {
      if (!isOptedIn(s.labels, p)) return [];
      const envoy = (s.labels[`${p}envoy`] ?? "").trim().toLowerCase() === "true";
      const allowed = envoy
        ? [labelPort(s.labels, `${p}envoy.listen`, ENVOY_DEFAULTS.listenPort), labelPort(s.labels, `${p}envoy.ready-port`, ENVOY_DEFAULTS.readyPort)]
        : null;
      const plain = publishedPorts(s).filter((port) => (allowed ? !allowed.includes(port.target) : PLAINTEXT_PORTS.includes(port.target)));
      if (plain.length === 0) return [];
      return [
        finding(plaintextPortOnManagedService, {
          object: serviceObject(s),
          message: `opted in to mTLS but publishes ${describePorts(plain)}${envoy ? " besides its Envoy mTLS listener" : " (a plain-HTTP port)"}`,
          fix: `docker service update ${plain.map((x) => `--publish-rm ${x.target}`).join(" ")} ${sh(s.name)}${envoy ? ` (publish only the mTLS port ${allowed?.[0]})` : ""}`,
        }),
      ];
    });
  },
};

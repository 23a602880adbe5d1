import type { Severity } from "../finding.js";
import { finding, type AuditCheck } from "../finding.js";
import { containerSpec, serviceObject, sh } from "../service-facts.js";

/** Capabilities the audit flags when added, with how bad each is. */
export const DANGEROUS_CAPABILITIES: Readonly<Record<string, Severity>> = {
  ALL: "critical",
  SYS_ADMIN: "critical",
  SYS_MODULE: "critical",
  SYS_RAWIO: "critical",
  SYS_PTRACE: "high",
  DAC_READ_SEARCH: "high",
  NET_ADMIN: "high",
  BPF: "high",
  NET_RAW: "medium",
};

/** CAP001: `--cap-add` of a capability that breaks isolation. */
export const dangerousCapability: AuditCheck = {
  id: "CAP001",
  title: "dangerous capability added",
  severity: "high",
  severities: "critical for ALL, SYS_ADMIN, SYS_MODULE, SYS_RAWIO; high for NET_ADMIN, SYS_PTRACE, DAC_READ_SEARCH, BPF; medium for NET_RAW",
  why: "SYS_ADMIN (and ALL, SYS_MODULE, SYS_RAWIO) is close to root on the host and enables container escapes; NET_ADMIN rewrites routes and firewall rules and can sniff or redirect other services' traffic; NET_RAW allows ARP/DNS spoofing on shared networks.",
  run(inv) {
    return inv.services.flatMap((s) => {
      const added = ((containerSpec(s) as { CapabilityAdd?: string[] }).CapabilityAdd ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, ""));
      return [...new Set(added)]
        .filter((c) => DANGEROUS_CAPABILITIES[c] !== undefined)
        .map((c) =>
          finding(dangerousCapability, {
            severity: DANGEROUS_CAPABILITIES[c],
            object: serviceObject(s),
            message: `adds capability ${c}`,
            fix: `docker service update --cap-drop ${c} ${sh(s.name)} (or drop it from cap_add in the stack file)`,
          }),
        );
    });
  },
};

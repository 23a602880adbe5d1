/**
 * Which host names a service may claim with its `mtls.dns` label. Anyone who can create a service can set labels, so
 * without a policy a label could make this CA sign a certificate for www.google.com or for a bank's host name, which
 * every workload trusting the CA would then accept. Allowed: the names the tool already gives the service itself (its
 * Swarm service and task names), names under the trust domain, and names under a suffix the operator lists in
 * `leaf.dnsSuffixes` (SWARM_MTLS_LEAF_DNS_SUFFIXES). Pure.
 */
import { validateDnsName } from "../ca/names.js";
import { badInput, printable } from "../errors.js";

export interface DnsNamePolicy {
  trustDomain: string;
  /** Operator-listed suffixes (leaf.dnsSuffixes), as written: `*.local`, `.local` and `local` mean the same. */
  suffixes: readonly string[];
}

/** Why a name is allowed, or null when it is not. */
export type DnsNameGrant = "own" | "trust-domain" | "suffix";

/**
 * One `leaf.dnsSuffixes` entry as the bare suffix it allows names under: `*.corp.internal`, `.corp.internal` and
 * `corp.internal` all give `corp.internal`. Throws MtlsError("bad-input") for anything that is not a host name
 * (a bare `*` included: the policy cannot be switched off by a wildcard).
 */
export function dnsSuffixOf(entry: string): string {
  const bare = entry.trim().replace(/^\*?\./, "");
  if (bare === "" || bare === "*") throw badInput(`leaf.dnsSuffixes: '${printable(entry)}' is not a DNS suffix (examples: local, *.corp.internal)`);
  try {
    return validateDnsName(bare);
  } catch (e) {
    throw badInput(`leaf.dnsSuffixes: '${printable(entry)}' is not a DNS suffix: ${(e as Error).message}`, e);
  }
}

const under = (name: string, domain: string): boolean => name.endsWith(`.${domain}`);

/** Whether the policy allows `name` (lower-case, already a valid host name) for a service whose own names are `own`. */
export function dnsNameGrant(name: string, policy: DnsNamePolicy, own: readonly string[]): DnsNameGrant | null {
  const n = name.toLowerCase();
  if (own.includes(n)) return "own";
  const td = policy.trustDomain.toLowerCase();
  if (n === td || under(n, td)) return "trust-domain";
  if (policy.suffixes.some((s) => under(n, dnsSuffixOf(s)))) return "suffix";
  return null;
}

/** What the policy allows, in words, for refusals. */
export function describeDnsNamePolicy(policy: DnsNamePolicy): string {
  const suffixes = policy.suffixes.map((s) => `*.${dnsSuffixOf(s)}`);
  return `the service's own names, names under the trust domain ${policy.trustDomain}${suffixes.length > 0 ? `, and ${suffixes.join(", ")}` : ""}`;
}

/**
 * Checks the names of a `mtls.dns` label; throws MtlsError("bad-input") naming the label, the first name outside the
 * policy, what is allowed and the setting that widens it. Nothing is issued for the service then.
 */
export function checkLabelDnsNames(label: string, names: readonly string[], policy: DnsNamePolicy, own: readonly string[]): void {
  for (const n of names) {
    if (dnsNameGrant(n, policy, own) !== null) continue;
    throw badInput(
      `label ${label}: '${printable(n)}' is outside the allowed DNS names (${describeDnsNamePolicy(policy)}); to allow it, add its domain to leaf.dnsSuffixes (SWARM_MTLS_LEAF_DNS_SUFFIXES)`,
    );
  }
}

/**
 * Uniqueness of what a certificate asserts. Two services that claim one identity would overwrite each other's
 * secrets; two services with one SPIFFE ID would be indistinguishable to every Envoy RBAC rule, upstream pin and
 * admin check. Both are refused, for every service involved, naming the others.
 */

/** What one opted-in service asks to be, as read from its labels. */
export interface IdentityClaim {
  serviceName: string;
  identity: string;
  spiffeId: string;
}

/**
 * For every service whose identity or SPIFFE ID another service also claims, the reason it is refused (keyed by
 * service name). Pure. Services not in the result are free of conflicts. The identity conflict is reported first
 * when a service has both.
 */
export function identityClaimConflicts(claims: readonly IdentityClaim[], labelPrefix: string): Map<string, string> {
  const refused = new Map<string, string>();
  const by = (key: (c: IdentityClaim) => string): Map<string, IdentityClaim[]> => {
    const m = new Map<string, IdentityClaim[]>();
    for (const c of claims) m.set(key(c), [...(m.get(key(c)) ?? []), c]);
    return m;
  };
  const namesOf = (list: IdentityClaim[]): string => [...new Set(list.map((c) => c.serviceName))].sort().join(", ");
  const refuse = (list: IdentityClaim[], reason: string): void => {
    if (new Set(list.map((c) => c.serviceName)).size < 2) return;
    for (const c of list) if (!refused.has(c.serviceName)) refused.set(c.serviceName, reason);
  };
  for (const [identity, list] of by((c) => c.identity)) {
    refuse(list, `identity '${identity}' is claimed by several services (${namesOf(list)}); give each its own ${labelPrefix}identity`);
  }
  for (const [spiffeId, list] of by((c) => c.spiffeId)) {
    refuse(list, `SPIFFE ID '${spiffeId}' is claimed by several services (${namesOf(list)}); each service needs its own`);
  }
  return refused;
}

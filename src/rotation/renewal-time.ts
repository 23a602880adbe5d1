import { createHash } from "node:crypto";

export interface RenewalTimeParams {
  notBefore: Date;
  notAfter: Date;
  /** Renew when less than this fraction of the lifetime remains (0.3333 = the last third). */
  renewBefore: number;
  /** Spread as a fraction of the lifetime; the renewal point moves EARLIER by up to this much, never later. */
  jitter: number;
  /** Anything stable per certificate (its serial): the same certificate always gets the same renewal time. */
  seed: string;
}

/**
 * When a certificate becomes due. Pure and deterministic: the jitter comes from a hash of the seed, so that
 * services issued in the same minute spread their renewals without the plan changing between two runs.
 *
 *   lifetime L = notAfter - notBefore
 *   due at     = notAfter - renewBefore*L - jitter*L*h,   h in [0, 1) from sha256(seed)
 */
export function renewalTime(p: RenewalTimeParams): Date {
  const lifetime = p.notAfter.getTime() - p.notBefore.getTime();
  const h = createHash("sha256").update(p.seed).digest().readUInt32BE(0) / 0x1_0000_0000;
  const ms = p.notAfter.getTime() - p.renewBefore * lifetime - p.jitter * lifetime * h;
  return new Date(Math.max(p.notBefore.getTime(), Math.floor(ms)));
}

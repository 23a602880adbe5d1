import { describeAuthority, type CaCertificateInfo } from "../ca/index.js";
import type { CliContext } from "./context.js";
import { showCertificates } from "./init.js";

export interface CaShowResult {
  /** The store, or with --server the server's origin. */
  store: string;
  /** With --server: from the API certificate's SPIFFE ID, null over plain HTTP. */
  trustDomain: string | null;
  /** Absent with --server (the API does not publish them). */
  defaultKeyAlgorithm?: string;
  maxLeafTtlSeconds?: number;
  certificates: CaCertificateInfo[];
}

export async function runCaShow(ctx: CliContext): Promise<CaShowResult> {
  const { authority, store } = await ctx.publicAuthority();
  return {
    store: store.location,
    trustDomain: authority.trustDomain,
    defaultKeyAlgorithm: authority.defaultKeyAlgorithm,
    maxLeafTtlSeconds: authority.maxLeafTtlSeconds,
    // The PEMs are public certificates, but keep human output short: show them with --json only.
    certificates: describeAuthority(authority),
  };
}

export function showCaShow(r: CaShowResult): string {
  const limits = r.defaultKeyAlgorithm === undefined ? "" : `, leaves default ${r.defaultKeyAlgorithm}, max ttl ${r.maxLeafTtlSeconds}s`;
  return [
    `${r.trustDomain === null ? "CA" : `trust domain ${r.trustDomain}`} (${r.store})${limits}`,
    "",
    showCertificates(r.certificates),
  ].join("\n");
}

import { describeAuthority, type CaCertificateInfo } from "../ca/index.js";
import type { CliContext } from "./context.js";
import { showCertificates } from "./init.js";

export interface CaShowResult {
  store: string;
  trustDomain: string;
  defaultKeyAlgorithm: string;
  maxLeafTtlSeconds: number;
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
  return [
    `trust domain ${r.trustDomain} (${r.store}), leaves default ${r.defaultKeyAlgorithm}, max ttl ${r.maxLeafTtlSeconds}s`,
    "",
    showCertificates(r.certificates),
  ].join("\n");
}

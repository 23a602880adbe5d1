/**
 * The CA as `serve` holds it: opened (the KEK read, the keys decrypted) once, and again only when the state in the
 * store changed. A read of the state document is cheap; opening it is not, so it is compared before it is opened.
 */
import type { Authority } from "../ca/index.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaStore } from "../store/ca-store.js";
import { readKekFile } from "../store/kek-file.js";
import { openStoredAuthority } from "../store/open-ca-state.js";

export interface CaSource {
  /** The CA opened last (re-checked against the store at most every `recheckMs`). */
  current(): Promise<Authority>;
  /** Reads the state now and opens it when it changed (every reconcile, and after a CA rotation step). */
  refresh(): Promise<Authority>;
  /** The CA opened last, without any read; null before the first. */
  loaded(): Authority | null;
}

export interface CaSourceParams {
  store: CaStore;
  kekFile: string;
  logger: Logger;
  /** Called with each newly opened CA (metrics of the CA certificates' expiry). */
  onOpen?: (a: Authority) => void;
  /** How long `current()` trusts the CA it holds before reading the state again, ms. */
  recheckMs: number;
  /** Clock in ms. */
  nowMs: () => number;
}

export function createCaSource(p: CaSourceParams): CaSource {
  let held: { doc: string; authority: Authority; checkedAt: number } | null = null;
  let reading: Promise<Authority> | null = null;
  const read = async (): Promise<Authority> => {
    const doc = await p.store.readCaState();
    if (doc === null) throw new MtlsError("no-ca", `no CA in ${p.store.location}: run \`swarm-mtls init\` first`);
    if (held && held.doc === doc) {
      held.checkedAt = p.nowMs();
      return held.authority;
    }
    // Opened (and, for an unauthenticated state of an earlier version, migrated) by the store's one opener. A migration
    // rewrites the document: the next refresh sees it changed and opens it once more.
    const authority = await openStoredAuthority(p.store, await readKekFile(p.kekFile), p.logger);
    if (authority === null) throw new MtlsError("no-ca", `no CA in ${p.store.location}: run \`swarm-mtls init\` first`);
    held = { doc, authority, checkedAt: p.nowMs() };
    p.onOpen?.(authority);
    return authority;
  };
  const refresh = (): Promise<Authority> => {
    // Concurrent callers share one read.
    reading ??= read().finally(() => {
      reading = null;
    });
    return reading;
  };
  return {
    refresh,
    current: async () => (held && p.nowMs() - held.checkedAt < p.recheckMs ? held.authority : refresh()),
    loaded: () => held?.authority ?? null,
  };
}

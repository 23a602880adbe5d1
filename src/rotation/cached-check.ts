/**
 * A check whose answer is reused for a while: `/readyz` is unauthenticated, and a fresh answer reads the CA state from
 * the store and decrypts its keys. With this, any number of probes cost at most one check per `ttlMs` (concurrent
 * callers share the running one).
 */
export interface CachedCheckParams<T> {
  check: () => Promise<T>;
  /** How long an answer is reused, ms. */
  ttlMs: number;
  /** Clock in ms (the serving plane's clock). */
  now: () => number;
}

export function cachedCheck<T>(p: CachedCheckParams<T>): () => Promise<T> {
  const now = p.now;
  let last: { at: number; value: T } | null = null;
  let running: Promise<T> | null = null;
  return () => {
    if (last !== null && now() - last.at < p.ttlMs) return Promise.resolve(last.value);
    if (running !== null) return running;
    running = p.check().then(
      (value) => {
        last = { at: now(), value };
        running = null;
        return value;
      },
      (e: unknown) => {
        running = null;
        throw e;
      },
    );
    return running;
  };
}

/** How a bounded stop ended. */
export type StopOutcome =
  /** The running work finished within the grace. */
  | "finished"
  /** The grace ran out: the work was told to abandon and did so within `abandonMs`. */
  | "abandoned"
  /** Even after the abandon signal the work did not return in time: we stop waiting (the lease expires by itself). */
  | "gave-up";

export interface BoundedStopParams {
  /** Stops taking new work and resolves when the running work is done. */
  stop: () => Promise<void>;
  /** Tells the running work to abandon safely (abort its signal). */
  abandon: () => void;
  /** How long to let the running work finish. */
  graceMs: number;
  /** How long to wait after `abandon` for the work to return (release the lease); default 5 s. */
  abandonMs?: number;
  /** Called once when the grace runs out, before `abandon` (for the log line). */
  onGraceElapsed?: () => void;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> =>
  new Promise((done) => {
    setTimeout(done, ms).unref();
  });

/**
 * SIGTERM in a bounded time: wait for the running work up to the grace, then abandon it and wait a little more for
 * it to give the lease back. Never longer than graceMs + abandonMs (Docker SIGKILLs at stop_grace_period).
 */
export async function stopWithinGrace(p: BoundedStopParams): Promise<StopOutcome> {
  const sleep = p.sleep ?? defaultSleep;
  const done = p.stop().then(
    () => "done" as const,
    () => "done" as const,
  );
  if ((await Promise.race([done, sleep(p.graceMs).then(() => "late" as const)])) === "done") return "finished";
  p.onGraceElapsed?.();
  p.abandon();
  return (await Promise.race([done, sleep(p.abandonMs ?? 5_000).then(() => "late" as const)])) === "done" ? "abandoned" : "gave-up";
}

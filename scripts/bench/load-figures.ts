/**
 * The load benchmark's figures, read from what `serve` shows from outside: its JSON log lines (stderr), its
 * /proc/<pid>/status and its /metrics text. Pure functions only; ./serve-child.ts and ./load.ts do the acting.
 */

/** One pino line of `serve` (JSON, as it logs when stderr is not a terminal). */
export interface ServeLogLine {
  /** Epoch ms. */
  time: number;
  level: number;
  msg: string;
  component?: string;
  service?: string;
  trigger?: string;
  result?: string;
  error?: string;
  [field: string]: unknown;
}

/** A JSON log line of serve, or null for anything else (a stray non-JSON line, a line without time or msg). */
export function parseServeLogLine(text: string): ServeLogLine | null {
  if (!text.startsWith("{")) return null;
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (typeof o.time !== "number" || typeof o.msg !== "string") return null;
    return { ...o, time: o.time, level: typeof o.level === "number" ? o.level : 30, msg: o.msg } as ServeLogLine;
  } catch {
    return null;
  }
}

/** One service's rollout as serve logged it: "certificate issued" (the new secrets exist) → its audit line. */
export interface RolloutSpan {
  service: string;
  /** Epoch ms of "certificate issued"; undefined when the rollout failed before issuing. */
  issuedAt?: number;
  /** Epoch ms of the audit line. */
  doneAt: number;
  /** rotated, reattached or failed. */
  result: string;
  error?: string;
}

const DONE_MESSAGES = new Set(["certificate rotated", "references re-attached", "rotation failed"]);

/**
 * The result of a rollout's audit line, or undefined for any other line. Audit records (`audit: true`, event rotate
 * or reattach, result ok | failed | refused) and the older message lines ("certificate rotated", "references
 * re-attached", "rotation failed", with a `result` field) both count.
 */
export function rolloutAuditResult(l: ServeLogLine): string | undefined {
  if (l.component !== "audit") return undefined;
  if (l.audit === true) {
    if (l.event !== "rotate" && l.event !== "reattach") return undefined;
    if (l.result !== "ok") return "failed";
    return l.event === "rotate" ? "rotated" : "reattached";
  }
  if (!DONE_MESSAGES.has(l.msg)) return undefined;
  return typeof l.result === "string" ? l.result : l.msg === "rotation failed" ? "failed" : "rotated";
}

/**
 * The rollouts that finished within [fromMs, toMs], one per audit line, each paired with the latest "certificate
 * issued" line of its service before it (and not before fromMs).
 */
export function rolloutSpans(lines: readonly ServeLogLine[], fromMs: number, toMs: number): RolloutSpan[] {
  const issued = new Map<string, number>();
  const spans: RolloutSpan[] = [];
  for (const l of lines) {
    if (l.time < fromMs || l.time > toMs || !l.service) continue;
    if (l.component === "rollout" && l.msg === "certificate issued") {
      issued.set(l.service, l.time);
      continue;
    }
    const result = rolloutAuditResult(l);
    if (result === undefined) continue;
    const at = issued.get(l.service);
    issued.delete(l.service);
    spans.push({ service: l.service, ...(at !== undefined ? { issuedAt: at } : {}), doneAt: l.time, result, ...(typeof l.error === "string" ? { error: l.error } : {}) });
  }
  return spans;
}

/**
 * The most intervals open at one instant. An interval that ends at the instant another starts does not overlap it
 * (a slot of the pool is freed, then taken).
 */
export function maxOverlap(intervals: readonly { from: number; to: number }[]): number {
  const edges: [number, number][] = [];
  for (const i of intervals) edges.push([i.from, 1], [i.to, -1]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of edges) {
    open += d;
    max = Math.max(max, open);
  }
  return max;
}

/** How many rollouts were open at each span's start (its own included), by service. */
export function inFlightAtStart(spans: readonly RolloutSpan[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of spans) {
    if (s.issuedAt === undefined) continue;
    const at = s.issuedAt;
    out.set(s.service, spans.filter((o) => o.issuedAt !== undefined && o.issuedAt <= at && o.doneAt > at).length);
  }
  return out;
}

/** VmRSS of a /proc/<pid>/status text, in bytes; undefined when absent (a zombie has none). */
export function vmRssBytes(status: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * The value of one sample of a Prometheus text exposition: `name` with exactly these labels (none: the bare
 * sample). Undefined when absent.
 */
export function promValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? "")
      .split(/,(?=[a-zA-Z_][a-zA-Z0-9_]*=")/)
      .filter((x) => x !== "")
      .sort()
      .join(",");
    if (got === want) return Number(m[3]);
  }
  return undefined;
}

/** Docker's UpdateStatus states of a service rollout still running. */
export const UPDATE_IN_PROGRESS = new Set(["updating", "rollback_started"]);

/** Bytes as MiB with one decimal; "-" for none. */
export const mib = (b: number | undefined): string => (b === undefined || Number.isNaN(b) ? "-" : (b / 1024 / 1024).toFixed(1));

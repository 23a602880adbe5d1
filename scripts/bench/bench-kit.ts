/**
 * What every benchmark shares, all pure or nearly so: command-line numbers, quantiles, seconds, tables, the load
 * average, and how a benchmark's main() ends the process. The swarm benchmarks' fleet of busybox services is in
 * ./bench-fleet.ts, so that the benchmarks that measure this process (issue, api) do not load the CLI and dockerode.
 */
import { loadavg } from "node:os";

/** The value after `name` on the command line; undefined when the flag is absent (or last). */
export function arg(name: string, argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/**
 * The whole number ≥ 1 (and ≤ max, when given) after `name`, or `fallback` when the flag is absent. A flag given
 * without a number, or with anything else, is an error that names it.
 */
export function positiveInt(name: string, fallback: number, max?: number, argv: readonly string[] = process.argv): number {
  if (!argv.includes(name)) return fallback;
  const v = arg(name, argv);
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 1 || (max !== undefined && n > max)) {
    throw new Error(max !== undefined ? `${name} must be a whole number from 1 to ${max}` : `${name}: '${v ?? ""}' must be a whole number ≥ 1`);
  }
  return n;
}

/** The q-quantile (nearest rank) of xs; NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

/** Milliseconds as seconds with two decimals; "-" for none. */
export const sec = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? "-" : (ms / 1000).toFixed(2));

/** The 1-, 5- and 15-minute load averages, one decimal each: "2.9 2.2 2.8". */
export const loadAverage = (): string => loadavg().map((x) => x.toFixed(1)).join(" ");

/** Table lines: the first `leftColumns` columns padded to the left edge, the rest (figures) to the right. */
export function tableLines(headers: string[], rows: string[][], leftColumns = 1): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]): string => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

export function printTable(headers: string[], rows: string[][], leftColumns = 1): void {
  for (const l of tableLines(headers, rows, leftColumns)) console.log(l);
}

/**
 * Runs a benchmark's main() and exits: 0 when it ends (or the exit code it set), else prints "<name>: <message>" and
 * exits 130 after Ctrl-C, 1 otherwise.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(),
    (e: unknown) => {
      console.error(`${name}: ${(e as Error).message ?? String(e)}`);
      process.exit(process.exitCode === 130 ? 130 : 1);
    },
  );
}

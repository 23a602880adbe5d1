/**
 * Rotation latency on the real swarm: creates N busybox services (own label prefix, unique names), waits until they
 * run, then rotates them with the rollout engine — first one at a time (concurrency 1), then all at once
 * (concurrency N, or --concurrency) — and prints per-service latency (secrets created, update accepted, converged =
 * every task runs with the new secrets, total) with median/p90, the wall time of each mode, and the ratio of the
 * concurrent wall time to one service's rotation. Removes everything it made at the end, also on Ctrl-C.
 *
 * Run: npm run bench:rotate -- --services 20   (needs the sandbox swarm and its CA: scripts/test.sh makes both)
 * Options: --services <n> (default 20), --concurrency <n> (default n); the CA is the sandbox's test CA (SWARM_MTLS_TEST_DIR,
 * default .test-swarm/), --stop-grace <s> (default 1).
 */
import type { ServiceOutcome } from "../../src/rotation/rollout.js";
import { openFleetBench, type FleetRotation } from "./bench-fleet.js";
import { loadAverage, positiveInt, printTable, quantile, runMain, sec } from "./bench-kit.js";

interface ModeResult {
  label: string;
  concurrency: number;
  wallMs: number;
  outcomes: ServiceOutcome[];
  totals: Map<string, number>;
}

function report(m: ModeResult): void {
  console.log(`\n${m.label}: ${m.outcomes.length} services, concurrency ${m.concurrency}, wall time ${sec(m.wallMs)} s`);
  const rows = m.outcomes.map((o) => [o.service, o.result, sec(o.timings?.secretsCreated), sec(o.timings?.updateAccepted), sec(o.timings?.converged), sec(m.totals.get(o.service))]);
  const col = (f: (o: ServiceOutcome) => number | undefined) => m.outcomes.map(f).filter((x): x is number => x !== undefined);
  const cols = [col((o) => o.timings?.secretsCreated), col((o) => o.timings?.updateAccepted), col((o) => o.timings?.converged), col((o) => m.totals.get(o.service))];
  rows.push(["median", "", ...cols.map((c) => sec(quantile(c, 0.5)))]);
  rows.push(["p90", "", ...cols.map((c) => sec(quantile(c, 0.9)))]);
  printTable(["service", "result", "secrets created s", "update accepted s", "converged s", "total s"], rows);
  const failed = m.outcomes.filter((o) => o.result !== "rotated");
  for (const o of failed) console.log(`  ${o.service}: ${o.result} ${o.error ?? o.detail}`);
}

async function main(): Promise<void> {
  const n = positiveInt("--services", 20);
  const concurrency = positiveInt("--concurrency", n);
  const stopGrace = positiveInt("--stop-grace", 1);
  // Ctrl-C: stop starting rollouts and remove the services at once (rollouts in flight then fail and delete their new
  // secrets); withServices removes what is left once the engine has settled. A second Ctrl-C exits at once.
  const bench = await openFleetBench({
    kind: "bench",
    labelLetter: "b",
    services: n,
    stopGraceSeconds: stopGrace,
    secretsWithinMs: 30_000,
    owner: "the benchmark's",
    removeServicesOnInterrupt: true,
  });

  await bench.withServices(120_000, async () => {
    const runMode = async (label: string, c: number): Promise<ModeResult> => {
      console.error(`${label}: rotating ${n} services, concurrency ${c} …`);
      const r: FleetRotation = await bench.rotateAll({ concurrency: c, force: true });
      return { label, concurrency: c, wallMs: r.wallMs, outcomes: r.report.outcomes, totals: r.totals };
    };

    const sequential = await runMode("sequential", 1);
    if (bench.interrupted.aborted) return;
    const concurrent = await runMode("concurrent", concurrency);
    if (bench.interrupted.aborted) return;

    console.log(`rotation of ${n} busybox services (1 replica, stop-first, stop grace ${stopGrace}s, update monitor 1s); node ${process.version}; load average now ${loadAverage()}`);
    report(sequential);
    report(concurrent);
    const single = quantile([...sequential.totals.values()], 0.5);
    console.log(`\none service alone (median of the sequential run): ${sec(single)} s`);
    console.log(`sequential wall time: ${sec(sequential.wallMs)} s (${(sequential.wallMs / single).toFixed(1)}× one service)`);
    console.log(`concurrent wall time: ${sec(concurrent.wallMs)} s = ${(concurrent.wallMs / single).toFixed(2)}× one service (target ≤ 5×), ${(sequential.wallMs / concurrent.wallMs).toFixed(1)}× faster than sequential`);
    const bad = [...sequential.outcomes, ...concurrent.outcomes].filter((o) => o.result !== "rotated");
    if (bad.length > 0) process.exitCode = 1;
  });
}

runMain("bench:rotate", main);

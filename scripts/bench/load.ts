/**
 * Load: N (default 50) labelled busybox services rotated by the rollout engine under the lease, with the configured
 * concurrency cap (rotation.concurrency, or --concurrency), as `serve` does on its schedule. Prints the total wall
 * time, per-service rotation time (median/p90), the peak RSS of this process (sampled every 100 ms) and how many
 * services converged or failed. Removes everything it made at the end, also on Ctrl-C.
 *
 * Run: npx tsx scripts/bench/load.ts --services 50   (needs the sandbox swarm and its CA: scripts/test.sh makes both)
 * Options: --services <n> (default 50), --concurrency <n> (default the configured cap); the CA is the sandbox's test CA (SWARM_MTLS_TEST_DIR,
 * default .test-swarm/).
 */
import { openFleetBench } from "./bench-fleet.js";
import { loadAverage, positiveInt, quantile, runMain, sec } from "./bench-kit.js";

const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  const n = positiveInt("--services", 50);
  const bench = await openFleetBench({
    kind: "load",
    labelLetter: "l",
    services: n,
    stopGraceSeconds: 1,
    secretsWithinMs: 60_000,
    owner: "the load test's",
    removeServicesOnInterrupt: false,
  });
  const concurrency = positiveInt("--concurrency", bench.ctx.config.rotation.concurrency);

  await bench.withServices(300_000, async () => {
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    sampler.unref();
    try {
      console.error(`rotating ${n} services, concurrency ${concurrency} …`);
      const { report, wallMs, totals } = await bench.rotateAll({ concurrency });
      const per = [...totals.values()];
      const converged = report.outcomes.filter((o) => o.result === "rotated").length;
      const failed = report.outcomes.filter((o) => o.result !== "rotated");
      console.log(`load: ${n} busybox services (1 replica, stop-first, update monitor 1s), concurrency cap ${concurrency}; node ${process.version}; load average now ${loadAverage()}`);
      console.log(`total wall time:        ${sec(wallMs)} s`);
      console.log(`per service (issue → converged): median ${sec(quantile(per, 0.5))} s, p90 ${sec(quantile(per, 0.9))} s, max ${sec(Math.max(...per))} s`);
      console.log(`peak RSS of this process: ${mib(peakRss)} MiB (${mib(rssBefore)} MiB before the rotation)`);
      console.log(`converged: ${converged}, failed: ${failed.length}`);
      for (const o of failed) console.log(`  ${o.service}: ${o.result} ${o.error ?? o.detail}`);
      if (failed.length > 0) process.exitCode = 1;
    } finally {
      clearInterval(sampler);
    }
  });
}

runMain("bench:load", main);

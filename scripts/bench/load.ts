/**
 * Load: N (default 50) labelled busybox services kept fresh by the real `swarm-mtls serve` — the built CLI as a child
 * process (plain HTTP on 127.0.0.1, the sandbox CA, a label prefix and lease of the run's own, the concurrency cap
 * rotation.concurrency or --concurrency). Cycle "start" is serve's start reconcile (every service gets its first
 * certificate); then --cycles forced cycles, each an admin `POST /v1/rotate {"force":true}`. Per cycle it measures the
 * wall time, per service issued → converged (serve's own log lines), the most rollouts in flight at once (serve's log,
 * and Docker's UpdateStatus sampled every 250 ms) against the cap, and serve's RSS (/proc/<pid>/status VmRSS sampled
 * every 250 ms; heap from its /metrics after the cycle). Then serve is stopped with SIGTERM (it must exit 0), and as
 * the baseline the same forced cycle is run by the rollout engine in this process, with the same cap.
 * Exits 1 when a service failed, when serve had more rollouts in flight than the cap, or when serve did not exit 0.
 * Removes everything it made at the end, also on Ctrl-C.
 *
 * Run: npm run bench:load -- --services 50 --cycles 3   (needs the sandbox swarm and its CA: scripts/test.sh makes
 * both; the CA is the sandbox's test CA, SWARM_MTLS_TEST_DIR, default .test-swarm/)
 * Options: --services <n> (default 50), --cycles <n> forced cycles (default 3), --concurrency <n> (default the
 * configured cap, 4), --serve-log <file> (write serve's log lines there).
 */
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import type { ServiceOutcome } from "../../src/rotation/rollout.js";
import { sandboxCa } from "../sandbox-ca.js";
import { openFleetBench, REPO } from "./bench-fleet.js";
import { arg, loadAverage, positiveInt, printTable, quantile, runMain, sec } from "./bench-kit.js";
import { inFlightAtStart, maxOverlap, mib, promValue, rolloutSpans, UPDATE_IN_PROGRESS, type RolloutSpan } from "./load-figures.js";
import { startServeChild, type ServeChild } from "./serve-child.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Sample {
  t: number;
  value: number;
}

/** Samples `read` every `everyMs` (a slow read delays the next one, never overlaps it) until stop(). */
function sampler(everyMs: number, read: () => Promise<number | undefined> | number | undefined): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = Date.now();
      const value = await Promise.resolve()
        .then(read)
        .catch(() => undefined);
      if (value !== undefined) samples.push({ t: t0, value });
      await sleep(Math.max(0, everyMs - (Date.now() - t0)));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const within = (xs: readonly Sample[], from: number, to: number): number[] => xs.filter((s) => s.t >= from && s.t <= to).map((s) => s.value);
const maxOf = (xs: readonly number[]): number | undefined => (xs.length ? Math.max(...xs) : undefined);

interface CycleResult {
  label: string;
  how: string;
  from: number;
  to: number;
  /** Per service, by name: result, generation before → after, error. */
  results: Map<string, { result: string; generation: string; error?: string }>;
  spans: RolloutSpan[];
  /** Most rollouts in flight at once: serve's own log (issued → audit line). */
  inFlightServe: number;
  /** Most services Docker showed with UpdateStatus updating (sampled). */
  inFlightDocker: number | undefined;
  rssStart: number | undefined;
  rssPeak: number | undefined;
  rssEnd: number | undefined;
  heapUsed: number | undefined;
  load: string;
}

function issuedToDone(spans: readonly RolloutSpan[]): number[] {
  return spans.filter((s) => s.issuedAt !== undefined).map((s) => s.doneAt - (s.issuedAt as number));
}

function printCycle(c: CycleResult, names: readonly string[]): void {
  const inFlight = inFlightAtStart(c.spans);
  const bySvc = new Map(c.spans.map((s) => [s.service, s]));
  console.log(`\ncycle ${c.label} (${c.how}): wall ${sec(c.to - c.from)} s, load average ${c.load}`);
  const rows = names.map((n) => {
    const s = bySvc.get(n);
    const r = c.results.get(n);
    return [
      n,
      r?.result ?? "missing",
      r?.generation ?? "-",
      s?.issuedAt !== undefined ? sec(s.issuedAt - c.from) : "-",
      s ? sec(s.doneAt - c.from) : "-",
      s?.issuedAt !== undefined ? sec(s.doneAt - s.issuedAt) : "-",
      String(inFlight.get(n) ?? "-"),
    ];
  });
  printTable(["service", "result", "generation", "issued at s", "done at s", "issued → converged s", "in flight then"], rows, 3);
  for (const [n, r] of c.results) if (r.error) console.log(`  ${n}: ${r.error}`);
}

async function main(): Promise<void> {
  const n = positiveInt("--services", 50);
  const cycles = positiveInt("--cycles", 3);
  // Ctrl-C: stop serve, remove the services at once (rollouts in flight then fail and delete their new secrets);
  // withServices removes what is left (secrets, lease) once serve has stopped. A second Ctrl-C exits at once.
  const bench = await openFleetBench({
    kind: "load",
    labelLetter: "l",
    services: n,
    stopGraceSeconds: 1,
    secretsWithinMs: 60_000,
    owner: "the load test's",
    removeServicesOnInterrupt: true,
  });
  const cap = positiveInt("--concurrency", bench.ctx.config.rotation.concurrency, 64);
  const leaseName = bench.ctx.config.rotation.leaseName;
  const names = bench.names;
  const problems: string[] = [];

  await bench.withServices(600_000, async () => {
    const dockerInFlight = sampler(250, async () => {
      const services = await bench.swarm.listServices();
      return services.filter((s) => names.includes(s.name) && UPDATE_IN_PROGRESS.has(s.updateStatus?.state ?? "")).length;
    });
    let serve: ServeChild | undefined;
    let rss: ReturnType<typeof sampler> | undefined;
    const results: CycleResult[] = [];
    let serveExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const stopOnInterrupt = () => void serve?.stop(120_000);
    bench.interrupted.addEventListener("abort", stopOnInterrupt);
    // Rejects on Ctrl-C, so that serve's start reconcile or a cycle's request is not waited for (serve is stopping).
    const interrupted = new Promise<never>((_, reject) => bench.interrupted.addEventListener("abort", () => reject(new Error("interrupted")), { once: true }));
    interrupted.catch(() => undefined);
    try {
      const spawnedAt = Date.now();
      console.error(`starting swarm-mtls serve (concurrency cap ${cap}, lease ${leaseName}) …`);
      serve = await startServeChild(
        {
          repo: REPO,
          env: {
            ...process.env,
            ...sandboxCa(REPO).env,
            SWARM_MTLS_LABEL_PREFIX: bench.prefix,
            SWARM_MTLS_ROTATION_LEASE_NAME: leaseName,
            SWARM_MTLS_ROTATION_CONCURRENCY: String(cap),
            // The cycles are driven by the admin API; a schedule that fires on 1 January only keeps cron out of them.
            SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *",
            SWARM_MTLS_LOG_LEVEL: "info",
          },
        },
        120_000,
      );
      const s = serve;
      rss = sampler(250, () => s.rssBytes());
      const rssIdle = s.rssBytes();

      const metrics = async (): Promise<string> => (await s.call("GET", "/metrics")).text;
      const finishCycle = async (c: Omit<CycleResult, "spans" | "inFlightServe" | "inFlightDocker" | "rssStart" | "rssPeak" | "rssEnd" | "heapUsed" | "load">): Promise<CycleResult> => {
        const spans = rolloutSpans(s.lines, c.from, c.to);
        const rs = within(rss?.samples ?? [], c.from, c.to);
        const m = await metrics().catch(() => "");
        const r: CycleResult = {
          ...c,
          spans,
          inFlightServe: maxOverlap(spans.filter((x) => x.issuedAt !== undefined).map((x) => ({ from: x.issuedAt as number, to: x.doneAt }))),
          inFlightDocker: maxOf(within(dockerInFlight.samples, c.from, c.to)),
          rssStart: rs[0],
          rssPeak: maxOf(rs),
          rssEnd: rs[rs.length - 1],
          heapUsed: promValue(m, "swarm_mtls_nodejs_heap_size_used_bytes"),
          load: loadAverage(),
        };
        results.push(r);
        printCycle(r, names);
        return r;
      };

      // Cycle "start": serve's start reconcile issues every service its first certificate.
      console.error(`waiting for serve's start reconcile (${n} services, first certificates) …`);
      const startDone = await Promise.race([s.waitForLine((l) => l.msg === "reconcile done" && l.trigger === "start", 1_800_000), interrupted]);
      {
        const spans = rolloutSpans(s.lines, spawnedAt, startDone.time);
        const res = new Map(spans.map((x) => [x.service, { result: x.result, generation: "- → 1", ...(x.error ? { error: x.error } : {}) }]));
        await finishCycle({ label: "start", how: "serve's start reconcile", from: spawnedAt, to: startDone.time, results: res });
      }

      let lastEnd = startDone.time;
      for (let i = 1; i <= cycles && !bench.interrupted.aborted; i++) {
        await settle(s, lastEnd);
        if (bench.interrupted.aborted) break;
        console.error(`cycle ${i}/${cycles}: POST /v1/rotate {"force":true} …`);
        const from = Date.now();
        const reply = await Promise.race([s.call("POST", "/v1/rotate", { force: true }), interrupted]);
        const to = Date.now();
        lastEnd = to;
        if (reply.status !== 200) throw new Error(`POST /v1/rotate answered ${reply.status}: ${reply.text.slice(0, 300)}`);
        const outcomes = (JSON.parse(reply.text) as { outcomes: { service: string; action: string; generationBefore: number; generationAfter: number; error?: string }[] }).outcomes;
        const res = new Map(outcomes.map((o) => [o.service, { result: o.action, generation: `${o.generationBefore} → ${o.generationAfter}`, ...(o.error ? { error: o.error } : {}) }]));
        await finishCycle({ label: String(i), how: `POST /v1/rotate force, ${outcomes.length} outcomes`, from, to, results: res });
      }
      if (bench.interrupted.aborted) return;

      console.error("stopping serve (SIGTERM) …");
      await settle(s, lastEnd);
      serveExit = await s.stop(120_000);
      await rss.stop();
      const leaked = [...s.lines.map((l) => JSON.stringify(l)), ...s.otherOutput].some((l) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(l));
      if (leaked) problems.push("serve printed a PEM private key");
      const stoppedAt = s.lines.find((l) => l.msg.startsWith("stopping"))?.time ?? Infinity;
      const warnings = s.lines.filter((l) => l.level >= 40 && l.time < stoppedAt);
      const logFile = arg("--serve-log");
      if (logFile) writeFileSync(logFile, [...s.lines.map((l) => JSON.stringify(l)), ...s.otherOutput].join("\n") + "\n");

      // Baseline: the same forced cycle by the rollout engine in this process (no HTTP, no child), same cap.
      console.error(`baseline: the same forced cycle by the in-process rollout engine, concurrency ${cap} …`);
      const rssBefore = process.memoryUsage().rss;
      const own = sampler(250, () => process.memoryUsage().rss);
      const base = await bench.rotateAll({ concurrency: cap, force: true });
      await own.stop();
      const baseTo = Date.now();
      const baseFrom = baseTo - base.wallMs;
      const baseIssuedToDone = base.report.outcomes
        .filter((o) => o.timings?.secretsCreated !== undefined && base.totals.has(o.service))
        .map((o) => (base.totals.get(o.service) as number) - (o.timings?.secretsCreated as number));
      const baseFailed = base.report.outcomes.filter((o: ServiceOutcome) => o.result !== "rotated");

      // Report.
      console.log(
        `\nload: ${n} busybox services (1 replica, stop-first, update monitor 1s) kept by \`swarm-mtls serve\` (child pid ${s.pid}, --no-tls on 127.0.0.1), ` +
          `concurrency cap ${cap}, ${cycles} forced cycles; node ${process.version}, ${cpus().length} CPUs; load average now ${loadAverage()}`,
      );
      const row = (c: CycleResult): string[] => {
        const per = issuedToDone(c.spans);
        const rotated = [...c.results.values()].filter((r) => r.result === "rotated").length;
        return [
          c.label,
          sec(c.to - c.from),
          String(rotated),
          String(n - rotated),
          `${sec(quantile(per, 0.5))} / ${sec(quantile(per, 0.9))} / ${sec(maxOf(per))}`,
          `${c.inFlightServe} / ${c.inFlightDocker ?? "-"}`,
          String(cap),
          `${mib(c.rssStart)} / ${mib(c.rssPeak)} / ${mib(c.rssEnd)}`,
          mib(c.heapUsed),
          c.load,
        ];
      };
      const rows = results.map(row);
      rows.push([
        "baseline",
        sec(base.wallMs),
        String(base.report.outcomes.length - baseFailed.length),
        String(baseFailed.length),
        `${sec(quantile(baseIssuedToDone, 0.5))} / ${sec(quantile(baseIssuedToDone, 0.9))} / ${sec(maxOf(baseIssuedToDone))}`,
        `- / ${maxOf(within(dockerInFlight.samples, baseFrom, baseTo)) ?? "-"}`,
        String(cap),
        `${mib(rssBefore)} / ${mib(maxOf(own.samples.map((x) => x.value)))} / ${mib(process.memoryUsage().rss)}`,
        mib(process.memoryUsage().heapUsed),
        loadAverage(),
      ]);
      console.log();
      printTable(["cycle", "wall s", "rotated", "failed", "issued → converged s med / p90 / max", "in flight max serve / docker", "cap", "RSS MiB start / peak / end", "heap MiB", "load avg"], rows);
      console.log("  start = serve's start reconcile (first certificates; wall from spawning serve); 1.. = POST /v1/rotate {force:true} (wall = the request);");
      console.log("  baseline = the same forced cycle by the rollout engine inside this benchmark's process, after serve stopped (RSS/heap of this process).");
      console.log("  in flight: serve = most rollouts between their 'certificate issued' and audit log lines at once; docker = most services with UpdateStatus 'updating' in a sample (every 250 ms; Docker keeps 'updating' through the update monitor, so it can lag serve).");

      const forced = results.filter((c) => c.label !== "start");
      const peaks = forced.map((c) => c.rssPeak).filter((x): x is number => x !== undefined);
      console.log(`\nserve RSS: ${mib(rssIdle)} MiB idle after start; peak per forced cycle ${peaks.map(mib).join(", ")} MiB` + (peaks.length > 1 ? ` (last − first: ${((peaks[peaks.length - 1] as number) - (peaks[0] as number) >= 0 ? "+" : "")}${mib((peaks[peaks.length - 1] as number) - (peaks[0] as number))} MiB)` : ""));
      const maxServe = Math.max(...results.map((c) => c.inFlightServe));
      const maxDocker = maxOf(results.map((c) => c.inFlightDocker).filter((x): x is number => x !== undefined));
      console.log(`in flight at most: ${maxServe} (serve's log), ${maxDocker ?? "-"} (Docker's UpdateStatus); cap ${cap}; Docker samples: ${dockerInFlight.samples.length}`);
      const forcedWalls = forced.map((c) => c.to - c.from);
      if (forcedWalls.length) console.log(`forced cycle by serve: median wall ${sec(quantile(forcedWalls, 0.5))} s vs. ${sec(base.wallMs)} s in-process (${(quantile(forcedWalls, 0.5) / base.wallMs).toFixed(2)}×)`);
      const byMsg = new Map<string, number>();
      for (const w of warnings) {
        const what = `${w.msg}${w.err ?? w.error ? ` (${String(w.err ?? w.error)})` : ""}`;
        byMsg.set(what, (byMsg.get(what) ?? 0) + 1);
      }
      console.log(`serve stopped with SIGTERM: exit ${serveExit.code ?? serveExit.signal}; warnings in its log before the stop: ${warnings.length}${[...byMsg].map(([m, k]) => `\n  ${k}× ${m}`).join("")}`);

      for (const c of results) {
        const bad = names.filter((x) => c.results.get(x)?.result !== "rotated");
        if (bad.length) problems.push(`cycle ${c.label}: ${bad.length} services not rotated (${bad.slice(0, 5).map((x) => `${x}: ${c.results.get(x)?.result ?? "missing"}${c.results.get(x)?.error ? ` ${c.results.get(x)?.error}` : ""}`).join("; ")})`);
        if (c.inFlightServe > cap) problems.push(`cycle ${c.label}: ${c.inFlightServe} rollouts in flight, over the cap of ${cap}`);
      }
      for (const o of baseFailed) problems.push(`baseline: ${o.service} ${o.result} ${o.error ?? o.detail}`);
      if (serveExit.code !== 0) problems.push(`serve exited ${serveExit.code ?? serveExit.signal} on SIGTERM, not 0`);
      console.log(problems.length ? `\nFAILED:\n${problems.map((p) => `  ${p}`).join("\n")}` : "\nall services converged in every cycle; the cap held; serve exited 0");
      if (problems.length) process.exitCode = 1;
    } finally {
      bench.interrupted.removeEventListener("abort", stopOnInterrupt);
      if (serve && !serve.exited()) await serve.stop(120_000);
      await rss?.stop();
      await dockerInFlight.stop();
    }
  });
}

/**
 * Waits until serve is idle: the Docker events of the last cycle's updates make it reconcile those services once
 * more (nothing to do) — wait for that, then for 3 s without a log line (at most a minute).
 */
async function settle(s: ServeChild, sinceMs: number): Promise<void> {
  await s.waitForLine((l) => l.time >= sinceMs && l.msg === "reconcile done" && l.trigger === "event", 20_000).catch(() => undefined);
  const deadline = Date.now() + 60_000;
  while (Date.now() - s.lastOutputAt() < 3_000 && Date.now() < deadline) await sleep(250);
}

runMain("bench:load", main);

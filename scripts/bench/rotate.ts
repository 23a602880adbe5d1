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
import "reflect-metadata";
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { sandboxCa } from "../sandbox-ca.js";
import { createCliContext } from "../../src/cli/context.js";
import { LABEL } from "../../src/swarm/managed-labels.js";
import type { Swarm } from "../../src/swarm/swarm.js";
import { rotate, type RotationReport, type ServiceOutcome } from "../../src/rotation/rollout.js";
import { withLease } from "../../src/rotation/with-lease.js";

const IMAGE = "swarm-mtls/busybox:test";
const REPO = resolve(fileURLToPath(import.meta.url), "../../../..");

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function positiveInt(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: '${v}' must be a whole number ≥ 1`);
  return n;
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
};
const sec = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? "-" : (ms / 1000).toFixed(2));

function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ");
  console.log(line(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}

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

async function waitAllRunning(swarm: Swarm, ids: string[], deadlineMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const running = await Promise.all(
      ids.map(async (id) => (await swarm.listTasks({ serviceId: id })).some((t) => t.desiredState === "running" && t.state === "running")),
    );
    if (running.every(Boolean)) return;
    if (signal.aborted) throw new Error("interrupted");
    if (Date.now() > deadline) throw new Error(`services not running after ${deadlineMs / 1000}s: ${running.filter((r) => !r).length} of ${ids.length}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const n = positiveInt("--services", 20);
  const concurrency = positiveInt("--concurrency", n);
  const stopGrace = positiveInt("--stop-grace", 1);
  const ca = sandboxCa(REPO);
  if (!ca.id || !existsSync(ca.kekFile)) throw new Error(`no sandbox CA (${ca.kekFile}): run scripts/test.sh once, it makes the sandbox swarm and its CA`);
  const tag = randomBytes(3).toString("hex");
  const prefix = `b${tag}.`;
  const env = {
    ...process.env,
    ...ca.env,
    SWARM_MTLS_LABEL_PREFIX: prefix,
    SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.bench-${tag}`,
  };
  const ctx = createCliContext({ global: {}, env });
  const swarm = await ctx.swarm();
  const { authority } = await ctx.authority();

  const names = Array.from({ length: n }, (_, i) => `bench-${tag}-${String(i + 1).padStart(2, "0")}`);
  const ids: string[] = [];
  const interrupted = new AbortController();
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      const services = (await swarm.listServices()).filter((s) => names.includes(s.name));
      await Promise.all(services.map((s) => swarm.removeService(s.id).catch(() => undefined)));
      const deadline = Date.now() + 30_000;
      for (;;) {
        const secrets = (await swarm.listSecrets({ label: [`${LABEL.managed}=true`] })).filter((s) => names.includes(s.labels[LABEL.identity] ?? ""));
        const left = await Promise.all(secrets.map((s) => swarm.removeSecret(s.id).then(() => 0, () => 1)));
        if (left.every((x) => x === 0) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      // Interrupted mid-run: the lease is ours (its name is this run's own), release it.
      const lease = await swarm.findConfig(ctx.config.rotation.leaseName).catch(() => null);
      if (lease) await swarm.removeConfig(lease.id).catch(() => undefined);
      console.error(`cleaned up ${services.length} services and their secrets`);
    })());
  // Ctrl-C: stop starting rollouts and remove the services at once (rollouts in flight then fail and delete their new
  // secrets); the `finally` below removes what is left once the engine has settled. A second Ctrl-C exits at once.
  process.on("SIGINT", () => {
    if (interrupted.signal.aborted) process.exit(130);
    console.error("\ninterrupted: removing the benchmark's services and secrets (Ctrl-C again to quit at once)");
    process.exitCode = 130;
    interrupted.abort(new Error("interrupted"));
    void swarm.listServices().then((all) => Promise.all(all.filter((s) => names.includes(s.name)).map((s) => swarm.removeService(s.id).catch(() => undefined))));
  });

  try {
    console.error(`creating ${n} busybox services (prefix ${prefix}) …`);
    const t0 = Date.now();
    for (const name of names) {
      if (interrupted.signal.aborted) return;
      ids.push(
        await swarm.createService({
          Name: name,
          Labels: { [`${prefix}enable`]: "true" },
          TaskTemplate: {
            ContainerSpec: { Image: IMAGE, Args: ["sleep", "3600"], StopGracePeriod: stopGrace * 1e9 },
            RestartPolicy: { Condition: "any", Delay: 1e9 },
          },
          Mode: { Replicated: { Replicas: 1 } },
          UpdateConfig: { Parallelism: 1, Delay: 0, Monitor: 1e9, FailureAction: "pause", Order: "stop-first" },
        }),
      );
    }
    await waitAllRunning(swarm, ids, 120_000, interrupted.signal);
    console.error(`  all running after ${sec(Date.now() - t0)} s`);

    const deps = { swarm, authority, config: ctx.config, logger: ctx.logger };
    const runMode = async (label: string, c: number): Promise<ModeResult> => {
      const totals = new Map<string, number>();
      console.error(`${label}: rotating ${n} services, concurrency ${c} …`);
      const start = Date.now();
      const r: RotationReport = await withLease(swarm, { ttlSeconds: ctx.config.seconds.leaseTtl, name: ctx.config.rotation.leaseName, logger: ctx.logger }, (leaseSignal) => {
        const signal = AbortSignal.any([leaseSignal, interrupted.signal]);
        setMaxListeners(0, signal); // every rollout in flight waits on it
        return rotate(
          { ...deps, observer: { finished: (o, seconds) => totals.set(o.service, seconds * 1000) } },
          { services: names, force: true, concurrency: c, trigger: "bench", signal },
        );
      });
      return { label, concurrency: c, wallMs: Date.now() - start, outcomes: r.outcomes, totals };
    };

    const sequential = await runMode("sequential", 1);
    if (interrupted.signal.aborted) return;
    const concurrent = await runMode("concurrent", concurrency);
    if (interrupted.signal.aborted) return;


    console.log(`rotation of ${n} busybox services (1 replica, stop-first, stop grace ${stopGrace}s, update monitor 1s); node ${process.version}; load average now ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
    report(sequential);
    report(concurrent);
    const single = quantile([...sequential.totals.values()], 0.5);
    console.log(`\none service alone (median of the sequential run): ${sec(single)} s`);
    console.log(`sequential wall time: ${sec(sequential.wallMs)} s (${(sequential.wallMs / single).toFixed(1)}× one service)`);
    console.log(`concurrent wall time: ${sec(concurrent.wallMs)} s = ${(concurrent.wallMs / single).toFixed(2)}× one service (target ≤ 5×), ${(sequential.wallMs / concurrent.wallMs).toFixed(1)}× faster than sequential`);
    const bad = [...sequential.outcomes, ...concurrent.outcomes].filter((o) => o.result !== "rotated");
    if (bad.length > 0) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(),
  (e: unknown) => {
    console.error(`bench:rotate: ${(e as Error).message ?? String(e)}`);
    process.exit(process.exitCode === 130 ? 130 : 1);
  },
);

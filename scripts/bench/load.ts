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
import { rotate } from "../../src/rotation/rollout.js";
import { withLease } from "../../src/rotation/with-lease.js";

const IMAGE = "swarm-mtls/busybox:test";
// scripts/bench/load.ts under tsx, dist/scripts/bench/load.js once built.
const HERE = resolve(fileURLToPath(import.meta.url), "../../..");
const REPO = HERE.endsWith("/dist") ? resolve(HERE, "..") : HERE;

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

const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  const n = positiveInt("--services", 50);
  const ca = sandboxCa(REPO);
  if (!ca.id || !existsSync(ca.kekFile)) throw new Error(`no sandbox CA (${ca.kekFile}): run scripts/test.sh once, it makes the sandbox swarm and its CA`);
  const tag = randomBytes(3).toString("hex");
  const prefix = `l${tag}.`;
  const env = {
    ...process.env,
    ...ca.env,
    SWARM_MTLS_LABEL_PREFIX: prefix,
    SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.load-${tag}`,
  };
  const ctx = createCliContext({ global: {}, env });
  const concurrency = positiveInt("--concurrency", ctx.config.rotation.concurrency);
  const swarm = await ctx.swarm();
  const { authority } = await ctx.authority();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  sampler.unref();

  const names = Array.from({ length: n }, (_, i) => `load-${tag}-${String(i + 1).padStart(2, "0")}`);
  const ids: string[] = [];
  const interrupted = new AbortController();
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      const services = (await swarm.listServices()).filter((s) => names.includes(s.name));
      await Promise.all(services.map((s) => swarm.removeService(s.id).catch(() => undefined)));
      const deadline = Date.now() + 60_000;
      for (;;) {
        const secrets = (await swarm.listSecrets({ label: [`${LABEL.managed}=true`] })).filter((s) => names.includes(s.labels[LABEL.identity] ?? ""));
        const left = await Promise.all(secrets.map((s) => swarm.removeSecret(s.id).then(() => 0, () => 1)));
        if (left.every((x) => x === 0) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const lease = await swarm.findConfig(ctx.config.rotation.leaseName).catch(() => null);
      if (lease) await swarm.removeConfig(lease.id).catch(() => undefined);
      console.error(`cleaned up ${services.length} services and their secrets`);
    })());
  process.on("SIGINT", () => {
    if (interrupted.signal.aborted) process.exit(130);
    console.error("\ninterrupted: removing the load test's services and secrets (Ctrl-C again to quit at once)");
    process.exitCode = 130;
    interrupted.abort(new Error("interrupted"));
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
            ContainerSpec: { Image: IMAGE, Args: ["sleep", "3600"], StopGracePeriod: 1e9 },
            RestartPolicy: { Condition: "any", Delay: 1e9 },
          },
          Mode: { Replicated: { Replicas: 1 } },
          UpdateConfig: { Parallelism: 1, Delay: 0, Monitor: 1e9, FailureAction: "pause", Order: "stop-first" },
        }),
      );
    }
    await waitAllRunning(swarm, ids, 300_000, interrupted.signal);
    console.error(`  all running after ${sec(Date.now() - t0)} s`);
    const rssBefore = process.memoryUsage().rss;
    peakRss = rssBefore;

    const totals = new Map<string, number>();
    console.error(`rotating ${n} services, concurrency ${concurrency} …`);
    const start = Date.now();
    const report = await withLease(swarm, { ttlSeconds: ctx.config.seconds.leaseTtl, name: ctx.config.rotation.leaseName, logger: ctx.logger }, (leaseSignal) => {
      const signal = AbortSignal.any([leaseSignal, interrupted.signal]);
      setMaxListeners(0, signal);
      return rotate(
        { swarm, authority, config: ctx.config, logger: ctx.logger, observer: { finished: (o, seconds) => totals.set(o.service, seconds * 1000) } },
        { services: names, concurrency, trigger: "bench", signal },
      );
    });
    const wallMs = Date.now() - start;
    const per = [...totals.values()];
    const converged = report.outcomes.filter((o) => o.result === "rotated").length;
    const failed = report.outcomes.filter((o) => o.result !== "rotated");
    console.log(`load: ${n} busybox services (1 replica, stop-first, update monitor 1s), concurrency cap ${concurrency}; node ${process.version}; load average now ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
    console.log(`total wall time:        ${sec(wallMs)} s`);
    console.log(`per service (issue → converged): median ${sec(quantile(per, 0.5))} s, p90 ${sec(quantile(per, 0.9))} s, max ${sec(Math.max(...per))} s`);
    console.log(`peak RSS of this process: ${mib(peakRss)} MiB (${mib(rssBefore)} MiB before the rotation)`);
    console.log(`converged: ${converged}, failed: ${failed.length}`);
    for (const o of failed) console.log(`  ${o.service}: ${o.result} ${o.error ?? o.detail}`);
    if (failed.length > 0) process.exitCode = 1;
  } finally {
    clearInterval(sampler);
    await cleanup();
  }
}

main().then(
  () => process.exit(),
  (e: unknown) => {
    console.error(`bench:load: ${(e as Error).message ?? String(e)}`);
    process.exit(process.exitCode === 130 ? 130 : 1);
  },
);

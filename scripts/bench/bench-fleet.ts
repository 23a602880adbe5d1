/**
 * The swarm benchmarks' shared ground (rotate, load): the sandbox swarm's test CA under a label prefix and lease of
 * the run's own, N busybox services made for the run, rotated by the rollout engine under the lease, and removed with
 * their secrets and the lease in the end, also on Ctrl-C.
 */
import "reflect-metadata";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Authority } from "../../src/ca/index.js";
import { createCliContext, type CliContext } from "../../src/cli/context.js";
import type { RotationReport } from "../../src/rotation/rollout.js";
import { createRotator } from "../../src/rotation/rotator.js";
import type { ServiceSpec } from "../../src/swarm/docker-types.js";
import { LABEL } from "../../src/swarm/managed-labels.js";
import type { Swarm } from "../../src/swarm/swarm.js";
import { sandboxCa } from "../sandbox-ca.js";
import { sec } from "./bench-kit.js";

export const BENCH_IMAGE = "swarm-mtls/busybox:test";

// <repo>/scripts/bench/bench-fleet.ts under tsx, <repo>/dist/scripts/bench/bench-fleet.js once built.
const HERE = resolve(fileURLToPath(import.meta.url), "../../..");
export const REPO = HERE.endsWith("/dist") ? resolve(HERE, "..") : HERE;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `<kind>-<tag>-01` … `<kind>-<tag>-NN`. */
export function benchServiceNames(kind: string, tag: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${kind}-${tag}-${String(i + 1).padStart(2, "0")}`);
}

/** One replica of busybox sleeping, opted in under `prefix`, rolled stop-first with a 1 s update monitor. */
export function busyboxServiceSpec(name: string, prefix: string, stopGraceSeconds: number): ServiceSpec {
  return {
    Name: name,
    Labels: { [`${prefix}enable`]: "true" },
    TaskTemplate: {
      ContainerSpec: { Image: BENCH_IMAGE, Args: ["sleep", "3600"], StopGracePeriod: stopGraceSeconds * 1e9 },
      RestartPolicy: { Condition: "any", Delay: 1e9 },
    },
    Mode: { Replicated: { Replicas: 1 } },
    UpdateConfig: { Parallelism: 1, Delay: 0, Monitor: 1e9, FailureAction: "pause", Order: "stop-first" },
  };
}

export async function waitAllRunning(swarm: Swarm, ids: string[], deadlineMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const running = await Promise.all(
      ids.map(async (id) => (await swarm.listTasks({ serviceId: id })).some((t) => t.desiredState === "running" && t.state === "running")),
    );
    if (running.every(Boolean)) return;
    if (signal.aborted) throw new Error("interrupted");
    if (Date.now() > deadline) throw new Error(`services not running after ${deadlineMs / 1000}s: ${running.filter((r) => !r).length} of ${ids.length}`);
    await sleep(250);
  }
}

export interface BenchFleetParams {
  swarm: Swarm;
  names: string[];
  /** Label prefix the services opt in under. */
  prefix: string;
  stopGraceSeconds: number;
  /** The run's own lease, released by cleanup() should the run stop while holding it. */
  leaseName: string;
  /** How long cleanup() retries removing secrets that tasks on their way out still use. */
  secretsWithinMs: number;
}

export interface BenchFleet {
  /** Ids of the services created so far. */
  ids: string[];
  /** Creates the services one after another, stopping early once `signal` is aborted. */
  create(signal: AbortSignal): Promise<void>;
  /** Removes the fleet's services (not waiting for their tasks); the number removed. */
  removeServices(): Promise<number>;
  /** Removes the services, then their managed secrets, then the lease; once, however often called. */
  cleanup(): Promise<void>;
}

export function createBenchFleet(p: BenchFleetParams): BenchFleet {
  const { swarm, names } = p;
  const ids: string[] = [];
  const removeServices = async (): Promise<number> => {
    const services = (await swarm.listServices()).filter((s) => names.includes(s.name));
    await Promise.all(services.map((s) => swarm.removeService(s.id).catch(() => undefined)));
    return services.length;
  };
  let cleaned: Promise<void> | undefined;
  return {
    ids,
    async create(signal) {
      for (const name of names) {
        if (signal.aborted) return;
        ids.push(await swarm.createService(busyboxServiceSpec(name, p.prefix, p.stopGraceSeconds)));
      }
    },
    removeServices,
    cleanup: () =>
      (cleaned ??= (async () => {
        const removed = await removeServices();
        const deadline = Date.now() + p.secretsWithinMs;
        for (;;) {
          const secrets = (await swarm.listSecrets({ label: [`${LABEL.managed}=true`] })).filter((s) => names.includes(s.labels[LABEL.identity] ?? ""));
          const left = await Promise.all(secrets.map((s) => swarm.removeSecret(s.id).then(() => 0, () => 1)));
          if (left.every((x) => x === 0) || Date.now() > deadline) break;
          await sleep(500);
        }
        // Stopped mid-run: the lease is ours (its name is this run's own), release it.
        const lease = await swarm.findConfig(p.leaseName).catch(() => null);
        if (lease) await swarm.removeConfig(lease.id).catch(() => undefined);
        console.error(`cleaned up ${removed} services and their secrets`);
      })()),
  };
}

export interface FleetBenchParams {
  /** Names the services `<kind>-<tag>-NN` and the lease `mtls.lock.<kind>-<tag>`. */
  kind: string;
  /** The label prefix is `<labelLetter><tag>.`. */
  labelLetter: string;
  services: number;
  stopGraceSeconds: number;
  secretsWithinMs: number;
  /** Whose services Ctrl-C says it removes: "the benchmark's". */
  owner: string;
  /** On the first Ctrl-C, remove the services at once (rollouts in flight then fail and delete their new secrets)
   * rather than only stop starting rollouts; cleanup() removes what is left once the engine has settled. */
  removeServicesOnInterrupt: boolean;
}

export interface FleetRotation {
  report: RotationReport;
  wallMs: number;
  /** Per service, issue → converged, milliseconds. */
  totals: Map<string, number>;
}

export interface FleetBench {
  ctx: CliContext;
  swarm: Swarm;
  authority: Authority;
  prefix: string;
  names: string[];
  /** Aborted on the first Ctrl-C (the second exits at once). */
  interrupted: AbortSignal;
  /** Creates the services and waits until every one runs, runs `body`, then cleans up whatever happened. */
  withServices(runningWithinMs: number, body: () => Promise<void>): Promise<void>;
  /** Rotates the fleet under the run's lease with the rollout engine, as `serve` does; stops on Ctrl-C. */
  rotateAll(p: { concurrency: number; force?: boolean }): Promise<FleetRotation>;
}

/** Opens the sandbox CA with a label prefix and lease of this run's own and takes over Ctrl-C. */
export async function openFleetBench(p: FleetBenchParams): Promise<FleetBench> {
  const ca = sandboxCa(REPO);
  if (!ca.id || !existsSync(ca.kekFile)) throw new Error(`no sandbox CA (${ca.kekFile}): run scripts/test.sh once, it makes the sandbox swarm and its CA`);
  const tag = randomBytes(3).toString("hex");
  const prefix = `${p.labelLetter}${tag}.`;
  const env = {
    ...process.env,
    ...ca.env,
    SWARM_MTLS_LABEL_PREFIX: prefix,
    SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.${p.kind}-${tag}`,
  };
  const ctx = createCliContext({ global: {}, env });
  const swarm = await ctx.swarm();
  const { authority } = await ctx.authority();
  const names = benchServiceNames(p.kind, tag, p.services);
  const fleet = createBenchFleet({
    swarm,
    names,
    prefix,
    stopGraceSeconds: p.stopGraceSeconds,
    leaseName: ctx.config.rotation.leaseName,
    secretsWithinMs: p.secretsWithinMs,
  });

  const interrupted = new AbortController();
  process.on("SIGINT", () => {
    if (interrupted.signal.aborted) process.exit(130);
    console.error(`\ninterrupted: removing ${p.owner} services and secrets (Ctrl-C again to quit at once)`);
    process.exitCode = 130;
    interrupted.abort(new Error("interrupted"));
    if (p.removeServicesOnInterrupt) void fleet.removeServices();
  });

  return {
    ctx,
    swarm,
    authority,
    prefix,
    names,
    interrupted: interrupted.signal,
    async withServices(runningWithinMs, body) {
      try {
        console.error(`creating ${names.length} busybox services (prefix ${prefix}) …`);
        const t0 = Date.now();
        await fleet.create(interrupted.signal);
        if (interrupted.signal.aborted) return;
        await waitAllRunning(swarm, fleet.ids, runningWithinMs, interrupted.signal);
        console.error(`  all running after ${sec(Date.now() - t0)} s`);
        await body();
      } finally {
        await fleet.cleanup();
      }
    },
    async rotateAll({ concurrency, force = false }) {
      const totals = new Map<string, number>();
      const start = Date.now();
      // Under the lease, stopping on its signal or on Ctrl-C.
      const rotator = createRotator({ swarm, config: ctx.config, logger: ctx.logger, now: ctx.clock, stopSignal: interrupted.signal });
      const report = await rotator.rotate({ authority, observer: { finished: (o, seconds) => totals.set(o.service, seconds * 1000) } }, { services: names, force, concurrency, trigger: "bench" });
      return { report, wallMs: Date.now() - start, totals };
    },
  };
}

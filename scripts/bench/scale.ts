/**
 * Control-plane scale: N opted-in services with `replicas: 0` (Raft writes, no containers) rotated through the real
 * `serve` (child process, its admin API's forced cycle), against the floor of the same work done with bare Engine-API
 * calls in the same run (per service: 2 new secrets + 1 spec update, 20 in flight, then the superseded secrets
 * removed). For each size: wall time, per-service cost, Docker objects created and pruned, serve's peak RSS, and how
 * the status routes answered during the cycle. Removes everything it made, also on Ctrl-C or SIGTERM.
 *
 * With --redeploy N (0: skip) it also times a `docker stack deploy` redeploy of an N-service stack (zero replicas, opted
 * in): the redeploy drops the secrets from every service's spec, and serve re-attaches the current generation without
 * re-issuing. Baseline in the same run: the forced re-issue of the same stack through serve.
 *
 * Run: npm run bench:scale -- [--sizes 100,1000,3000|none] [--raised 32] [--redeploy 200]
 * The engine is DOCKER_HOST, by default the 3-manager sandbox's node 1 (scripts/swarm-sandbox.sh up --managers 3)
 * when it is up, else the local engine: so that thousands of services never load the swarm other tests share.
 * It makes a CA of its own there (names mtls.bench-<tag>.*), removed at the end.
 */
import "reflect-metadata";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createCliContext } from "../../src/cli/context.js";
import { LABEL } from "../../src/swarm/managed-labels.js";
import type { ServiceSpec } from "../../src/swarm/docker-types.js";
import type { Swarm } from "../../src/swarm/swarm.js";
import { BENCH_IMAGE, REPO } from "./bench-fleet.js";
import { arg, loadAverage, positiveInt, printTable, quantile, runMain, sec } from "./bench-kit.js";
import { startServeChild, type ServeChild } from "./serve-child.js";

const execFileAsync = promisify(execFile);
const HA_SOCKET = "/var/lib/swarm-mtls-ha/m1/docker.sock";
const FLOOR_IN_FLIGHT = 20;

/** Runs `work` over `items` with at most `n` in flight. */
async function pool<T>(items: readonly T[], n: number, work: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}

function zeroReplicaSpec(name: string, prefix: string): ServiceSpec {
  return {
    Name: name,
    Labels: { [`${prefix}enable`]: "true" },
    TaskTemplate: { ContainerSpec: { Image: BENCH_IMAGE, Args: ["sleep", "3600"] } },
    Mode: { Replicated: { Replicas: 0 } },
  };
}

/** Managed secrets of the run's services (by identity label). */
async function managedCount(swarm: Swarm, names: Set<string>): Promise<number> {
  return (await swarm.listSecrets({ label: [`${LABEL.managed}=true`] })).filter((s) => names.has(s.labels[LABEL.identity] ?? "")).length;
}

interface CycleFigures {
  label: string;
  wallMs: number;
  created: number;
  pruned: number;
  peakRssMb: number;
  probes: { ok: number; failed: number; p90Ms: number; maxMs: number };
  outcomes: Record<string, number>;
}

/** One forced cycle through serve's admin API, with RSS and the status routes sampled while it runs. */
async function forcedCycle(label: string, serve: ServeChild, swarm: Swarm, names: Set<string>, before: number): Promise<CycleFigures> {
  let peak = serve.rssBytes() ?? 0;
  const latencies: number[] = [];
  let failed = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, serve.rssBytes() ?? 0);
      const t0 = Date.now();
      const r = await serve.call("GET", "/readyz").catch(() => ({ status: 0 }));
      if (r.status === 200) latencies.push(Date.now() - t0);
      else failed++;
      await new Promise((res) => setTimeout(res, 250));
    }
  })();
  const t0 = Date.now();
  const r = await serve.call("POST", "/v1/rotate", { force: true });
  const wallMs = Date.now() - t0;
  done = true;
  await sampler;
  if (r.status !== 200) throw new Error(`${label}: POST /v1/rotate answered ${r.status}: ${r.text.slice(0, 300)}`);
  const outcomes: Record<string, number> = {};
  for (const o of JSON.parse(r.text).outcomes as { action: string }[]) outcomes[o.action] = (outcomes[o.action] ?? 0) + 1;
  const after = await managedCount(swarm, names);
  const created = 2 * (outcomes.rotated ?? 0);
  return {
    label, wallMs, created, pruned: before + created - after, peakRssMb: peak / 2 ** 20,
    probes: { ok: latencies.length, failed, p90Ms: quantile(latencies, 0.9), maxMs: Math.max(0, ...latencies) },
    outcomes,
  };
}

/** The floor: the same Docker work with bare calls (2 secrets + 1 spec update per service, then the old ones removed). */
async function floorCycle(swarm: Swarm, names: string[], round: number, tag: string): Promise<number> {
  const t0 = Date.now();
  const superseded: string[] = [];
  await pool(names, FLOOR_IN_FLIGHT, async (name) => {
    const s = await swarm.inspectService(name);
    const ids = await Promise.all(["c", "k"].map((k) => swarm.createSecret({ name: `floor-${tag}-${name}-${k}-${round}`, data: Buffer.from(randomBytes(700).toString("base64")), labels: { "io.swarm-mtls.bench": tag } })));
    const spec = structuredClone(s.spec) as ServiceSpec;
    const container = (spec.TaskTemplate ??= {}).ContainerSpec ?? {};
    const refs = (container.Secrets ?? []).filter((r) => {
      const old = r.SecretName?.startsWith(`floor-${tag}-`);
      if (old && r.SecretID) superseded.push(r.SecretID);
      return !old;
    });
    ids.forEach((id, i) => refs.push({ SecretID: id, SecretName: `floor-${tag}-${name}-${i ? "k" : "c"}-${round}`, File: { Name: `floor-${i}`, UID: "0", GID: "0", Mode: 0o400 } }));
    spec.TaskTemplate.ContainerSpec = { ...container, Secrets: refs };
    await swarm.updateService(s.id, s.version, spec);
  });
  await pool(superseded, FLOOR_IN_FLIGHT, (id) => swarm.removeSecret(id));
  return Date.now() - t0;
}

/** An N-service stack of opted-in zero-replica services. */
function stackYaml(n: number, prefix: string): string {
  const lines = ['version: "3.8"', "services:"];
  for (let i = 1; i <= n; i++) {
    lines.push(`  s${String(i).padStart(4, "0")}:`, `    image: ${BENCH_IMAGE}`, '    command: ["sleep", "3600"]', "    deploy:", "      replicas: 0", "      labels:", `        ${prefix}enable: "true"`);
  }
  return `${lines.join("\n")}\n`;
}

/** Waits until every service of the stack mounts secrets again (the redeploy dropped them); ms from `t0`. */
async function allAttached(swarm: Swarm, stack: string, n: number, t0: number, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const mine = (await swarm.listServices()).filter((s) => s.name.startsWith(`${stack}_`));
    if (mine.length === n && mine.every((s) => s.secretRefs.length > 0)) return Date.now() - t0;
    if (Date.now() > deadline) throw new Error(`redeploy: ${mine.filter((s) => s.secretRefs.length === 0).length} of ${n} services still without secrets after ${withinMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A `docker stack deploy` redeploy of an N-service stack: the first deploy, serve's start-up reconcile issuing for all,
 * then the same deploy again (every service's secrets dropped from its spec) until serve has re-attached them all,
 * then the forced re-issue of the same services through serve as the baseline.
 */
async function redeployRun(p: { n: number; tag: string; prefix: string; dir: string; env: NodeJS.ProcessEnv; swarm: Swarm; setServe: (s: ServeChild | null) => void }): Promise<string[][]> {
  const stack = `scale-${p.tag}-stack`;
  const file = join(p.dir, "stack.yml");
  writeFileSync(file, stackYaml(p.n, p.prefix));
  const deploy = async (): Promise<number> => {
    const t0 = Date.now();
    await execFileAsync("docker", ["stack", "deploy", "--resolve-image", "never", "-c", file, stack], { env: { ...process.env, DOCKER_HOST: p.env.DOCKER_HOST }, maxBuffer: 16 * 2 ** 20 });
    return Date.now() - t0;
  };
  const names = new Set(Array.from({ length: p.n }, (_, i) => `${stack}_s${String(i + 1).padStart(4, "0")}`));
  const firstDeployMs = await deploy();
  let t0 = Date.now();
  const serve = await startServeChild({ repo: REPO, env: p.env }, 120_000);
  p.setServe(serve);
  await serve.waitForLine((l) => l.msg === "reconcile done" || l.msg === "reconcile failed", 3_600_000);
  const initialMs = await allAttached(p.swarm, stack, p.n, t0, 600_000);
  console.error(`redeploy ${p.n}: deployed in ${sec(firstDeployMs)} s, issued in ${sec(initialMs)} s; deploying again …`);

  const secretsBefore = await managedCount(p.swarm, names);
  const fromLine = serve.lines.length;
  t0 = Date.now();
  const againMs = await deploy();
  const reattachMs = await allAttached(p.swarm, stack, p.n, t0, 600_000);
  // The event reconciles may still be writing their log lines: count once the last one is done.
  await new Promise((r) => setTimeout(r, 3000));
  const events = serve.lines.slice(fromLine).filter((l) => l.audit === true);
  const reattached = events.filter((l) => l.event === "reattach").length;
  const reissued = events.filter((l) => l.event === "rotate").length;
  const created = (await managedCount(p.swarm, names)) - secretsBefore;

  const forced = await forcedCycle("forced re-issue of the same stack (baseline)", serve, p.swarm, names, await managedCount(p.swarm, names));
  await serve.stop(60_000);
  p.setServe(null);
  await execFileAsync("docker", ["stack", "rm", stack], { env: { ...process.env, DOCKER_HOST: p.env.DOCKER_HOST } });
  return [
    [String(p.n), "first docker stack deploy", sec(firstDeployMs), "-", "-", "-"],
    [String(p.n), "serve start-up reconcile: issued and attached for all", sec(initialMs), "-", "-", "-"],
    [String(p.n), "redeploy: docker stack deploy again (drops the secrets)", sec(againMs), "-", "-", "-"],
    [String(p.n), "redeploy → every service mounts its secrets again", sec(reattachMs), String(reattached), String(reissued), String(created)],
    [String(p.n), forced.label, sec(forced.wallMs), "0", String(forced.outcomes.rotated ?? 0), String(forced.created)],
  ];
}

/** Whether an engine listens on the socket: the 3-manager sandbox leaves its socket file behind when it is down. */
function socketAnswers(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((done) => {
    const sock = connect(path);
    sock.once("connect", () => { sock.destroy(); done(true); });
    sock.once("error", () => done(false));
  });
}

async function main(): Promise<void> {
  const sizesArg = arg("--sizes") ?? "100,1000,3000";
  const sizes = sizesArg === "none" ? [] : sizesArg.split(",").map((x) => Number(x));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--sizes: whole numbers ≥ 1, comma-separated, or none");
  const raised = positiveInt("--raised", 32);
  const redeploy = Number(arg("--redeploy") ?? "0");
  if (!Number.isInteger(redeploy) || redeploy < 0 || redeploy > 9999) throw new Error("--redeploy: a whole number of services, 0 to 9999 (0: skip)");
  const dockerHost = process.env.DOCKER_HOST ?? ((await socketAnswers(HA_SOCKET)) ? `unix://${HA_SOCKET}` : "unix:///var/run/docker.sock");
  const tag = randomBytes(3).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), "bench-scale-"));
  const prefix = `z${tag}.`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_HOST: dockerHost,
    SWARM_MTLS_STORE: "swarm",
    SWARM_MTLS_KEK_FILE: join(dir, "kek"),
    SWARM_MTLS_CA_STATE_NAME: `mtls.bench-${tag}.ca-state`,
    SWARM_MTLS_KEK_SECRET_NAME: `swarm-mtls-kek-bench-${tag}`,
    SWARM_MTLS_LABEL_PREFIX: prefix,
    SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.bench-${tag}`,
    SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *",
    SWARM_MTLS_LOG_LEVEL: "info",
  };
  const cli = join(REPO, "dist/src/cli/main.js");
  execFileSync(process.execPath, [cli, "init", "--store", "swarm", "--kek-file", join(dir, "kek"), "--trust-domain", "bench.test"], { env, stdio: ["ignore", "ignore", "inherit"] });
  const ctx = createCliContext({ global: {}, env });
  const swarm = await ctx.swarm();
  console.error(`engine ${dockerHost}; CA mtls.bench-${tag}; sizes ${sizes.join(", ")}`);

  const rows: string[][] = [];
  const redeployRows: string[][] = [];
  const notes: string[] = [];
  let serve: ServeChild | null = null;
  const made: string[] = [];
  const cleanup = async () => {
    await serve?.stop(30_000).catch(() => undefined);
    const ids = (await swarm.listServices()).filter((s) => s.name.startsWith(`scale-${tag}-`)).map((s) => s.id);
    await pool(ids, FLOOR_IN_FLIGHT, (id) => swarm.removeService(id).catch(() => undefined));
    // By name, by identity, the floor's label, or the CA label (the trust bundle mtls.bundle.v<N> names this CA).
    // Names of this run only: `bench-<tag>` (CA, KEK, lease), `floor-<tag>-…`, `mtls.scale-<tag>-…`; never a bare tag.
    const ours = (name: string) => name.includes(`bench-${tag}`) || name.startsWith(`floor-${tag}-`) || name.startsWith(`mtls.scale-${tag}-`);
    const secrets = (await swarm.listSecrets()).filter((s) => ours(s.name) || (s.labels[LABEL.identity] ?? "").startsWith(`scale-${tag}-`) || s.labels["io.swarm-mtls.bench"] === tag || s.labels["io.swarm-mtls.ca"] === env.SWARM_MTLS_CA_STATE_NAME);
    await pool(secrets.map((s) => s.id), FLOOR_IN_FLIGHT, (id) => swarm.removeSecret(id).catch(() => undefined));
    const configs = (await swarm.listConfigs()).filter((c) => ours(c.name));
    await pool(configs.map((c) => c.id), FLOOR_IN_FLIGHT, (id) => swarm.removeConfig(id).catch(() => undefined));
    rmSync(dir, { recursive: true, force: true });
  };
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130); // the second one: quit at once
    interrupted = true;
    console.error(`${signal}: removing what the benchmark made (again to quit at once)`);
    void cleanup().finally(() => process.exit(signal === "SIGTERM" ? 143 : 130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    for (const n of sizes) {
      const names = Array.from({ length: n }, (_, i) => `scale-${tag}-${n}-${String(i + 1).padStart(4, "0")}`);
      const nameSet = new Set(names);
      let t0 = Date.now();
      await pool(names, FLOOR_IN_FLIGHT, async (name) => void made.push(await swarm.createService(zeroReplicaSpec(name, prefix))));
      console.error(`${n}: services created in ${sec(Date.now() - t0)} s; starting serve (its start-up reconcile issues generation 1) …`);

      t0 = Date.now();
      serve = await startServeChild({ repo: REPO, env }, 120_000);
      await serve.waitForLine((l) => l.msg === "reconcile done" || l.msg === "reconcile failed", 3_600_000);
      const initialMs = Date.now() - t0;
      const cycles: CycleFigures[] = [];
      let before = await managedCount(swarm, nameSet);
      cycles.push(await forcedCycle(`forced, concurrency ${ctx.config.rotation.concurrency} (default)`, serve, swarm, nameSet, before));
      await serve.stop(60_000);
      serve = await startServeChild({ repo: REPO, env: { ...env, SWARM_MTLS_ROTATION_CONCURRENCY: String(raised) } }, 120_000);
      await serve.waitForLine((l) => l.msg === "reconcile done" || l.msg === "reconcile failed", 3_600_000);
      before = await managedCount(swarm, nameSet);
      cycles.push(await forcedCycle(`forced, concurrency ${raised}`, serve, swarm, nameSet, before));
      await serve.stop(60_000);
      serve = null;

      // The floor on the same services, twice: the second round also removes the first round's secrets.
      await floorCycle(swarm, names, 1, tag);
      const floorMs = await floorCycle(swarm, names, 2, tag);

      console.error(`${n}: initial issue ${sec(initialMs)} s; cycles ${cycles.map((c) => `${sec(c.wallMs)} s`).join(", ")}; floor ${sec(floorMs)} s`);
      rows.push([String(n), "serve start + start-up reconcile (issues v1)", sec(initialMs), (initialMs / n).toFixed(1), "-", "-", "-", "-", "-"]);
      for (const c of cycles) {
        rows.push([String(n), c.label, sec(c.wallMs), (c.wallMs / n).toFixed(1), (c.wallMs / floorMs).toFixed(1), String(c.created), String(c.pruned), c.peakRssMb.toFixed(0), `${c.probes.ok} ok / ${c.probes.failed} failed, p90 ${c.probes.p90Ms} ms`]);
        if ((c.outcomes.failed ?? 0) > 0) notes.push(`${n}, ${c.label}: ${c.outcomes.failed} failed`);
      }
      rows.push([String(n), `bare Engine API floor (${FLOOR_IN_FLIGHT} in flight)`, sec(floorMs), (floorMs / n).toFixed(1), "1.0", String(2 * n), String(2 * n), "-", "-"]);
      // Services go before the next size, so that each size is measured on its own.
      await pool(names, FLOOR_IN_FLIGHT, (name) => swarm.removeService(name).catch(() => undefined));
    }
    if (redeploy > 0) redeployRows.push(...(await redeployRun({ n: redeploy, tag, prefix, dir, env, swarm, setServe: (x) => (serve = x) })));
  } finally {
    await cleanup();
  }
  console.log(`\ncontrol-plane scale: zero-replica opted-in services, engine ${dockerHost}; node ${process.version}; load average ${loadAverage()}`);
  if (rows.length > 0) printTable(["services", "run", "wall s", "ms/service", "× floor", "secrets created", "pruned", "serve peak RSS MiB", "/readyz during the cycle"], rows, 2);
  if (redeployRows.length > 0) {
    console.log(`\nstack redeploy: zero-replica opted-in services of one stack, the same engine`);
    printTable(["services", "run", "wall s", "re-attached", "re-issued", "secrets created"], redeployRows, 2);
  }
  for (const x of notes) console.log(`  ${x}`);
  if (notes.length) process.exitCode = 1;
}

runMain("bench:scale", main);

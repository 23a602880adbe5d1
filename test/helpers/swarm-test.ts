/**
 * What every test on the real sandbox swarm needs: the docker CLI as the oracle, polling with a deadline that names
 * what it waited for, the busybox image, free host ports, and a loud failure (never a skip) when there is no swarm
 * or no test CA.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { promisify } from "node:util";
import { REPO, testCa } from "./cli.js";

const run = promisify(execFile);

/** The busybox image `scripts/swarm-sandbox.sh up` imports. */
export const TEST_IMAGE = "swarm-mtls/busybox:test";
export const NO_SWARM = "no swarm reachable: run scripts/swarm-sandbox.sh up";
/** Fast busybox rollouts: the tests wait for real task replacements. */
export const FAST = ["--stop-grace-period", "1s", "--update-delay", "0s", "--update-monitor", "1s"];

/** A failed command: its message names the command and its stderr; `stderr` keeps the text for matching. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Runs a command (in the repo) and returns stdout; throws a CommandError with stderr on a non-zero exit. */
export async function sh(cmd: string, args: string[], p: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  try {
    return (await run(cmd, args, { cwd: REPO, maxBuffer: 64 * 1024 * 1024, timeout: p.timeoutMs ?? 120_000, env: { ...process.env, ...p.env } })).stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    const stderr = err.stderr?.trim() ?? "";
    throw new CommandError(`${cmd} ${args.join(" ")}: ${stderr || err.message}`, stderr);
  }
}

/** Runs the docker CLI (the oracle) and returns stdout (a command hanging for 5 minutes fails). */
export const docker = (...args: string[]): Promise<string> => sh("docker", args, { timeoutMs: 300_000 });

/** Polls `probe` until it returns a value (not undefined) or the deadline passes; then fails naming `what`. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Nobody holds the rotation lease `name`: its config is absent, or present and released (a released lease keeps its
 * config, without an owner label, so the next holder takes it by compare-and-swap).
 */
export async function leaseFree(name: string): Promise<boolean> {
  const id = (await docker("config", "ls", "-q", "--filter", `name=${name}`)).split("\n").find((l) => l.trim() !== "");
  if (id === undefined) return true;
  return (await docker("config", "inspect", "--format", '{{index .Spec.Labels "io.swarm-mtls.lease.owner"}}', name).catch(() => "")).trim() === "";
}

/**
 * A test's teardown: removes its services, then the secrets and configs labelled with their identities (retried for
 * up to a minute while the tasks that mount them go away), then its lease config. Never throws.
 */
export async function removeTestServices(services: Iterable<string>, leaseName: string): Promise<void> {
  for (const s of services) await docker("service", "rm", s).catch(() => undefined);
  await until("this test's secrets and configs to be removed", 60_000, async () => {
    let left = 0;
    for (const s of services) {
      for (const kind of ["secret", "config"]) {
        for (const id of (await docker(kind, "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${s}`)).split("\n").filter(Boolean)) {
          await docker(kind, "rm", id).catch(() => left++);
        }
      }
    }
    return left === 0 ? true : undefined;
  }).catch(() => undefined);
  await docker("config", "rm", leaseName).catch(() => undefined);
}

/** A TCP port nobody listens on now (for host-mode publishing, or a local server). */
export async function freePort(host = "0.0.0.0"): Promise<number> {
  const [port] = await freePorts(1, host);
  return port;
}

/** A tuple of N numbers (N a small literal). */
type Ports<N extends number, A extends number[] = []> = A["length"] extends N ? A : Ports<N, [...A, number]>;

/**
 * `count` different TCP ports nobody listens on now. Each is held until all are chosen: a port closed a moment ago is
 * the kernel's next answer to another bind of port 0, so two calls of freePort in a row may give the same port.
 */
export async function freePorts<N extends number>(count: N, host = "0.0.0.0"): Promise<Ports<N>> {
  const held: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      held.push(await new Promise<Server>((resolve, reject) => {
        const srv = createServer();
        srv.once("error", reject);
        srv.listen(0, host, () => resolve(srv));
      }));
    }
    return held.map((srv) => (srv.address() as AddressInfo).port) as Ports<N>;
  } finally {
    await Promise.all(held.map((srv) => new Promise((r) => srv.close(r))));
  }
}

/** Fails loudly (never skips) when no swarm manager is reachable or, with `needsCa`, the shared test CA is missing. */
export async function requireSwarmCli(p: { needsCa?: boolean; noSwarm?: string } = {}): Promise<void> {
  const noSwarm = p.noSwarm ?? NO_SWARM;
  let state: string;
  try {
    state = (await docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")).trim();
  } catch (e) {
    throw new Error(`${noSwarm} (${(e as Error).message})`);
  }
  if (state !== "active true") throw new Error(`${noSwarm} (swarm state: '${state}')`);
  if (p.needsCa !== false) {
    const ca = testCa();
    if (!existsSync(ca.kekFile)) throw new Error(`no test CA (${ca.kekFile} missing): run the tests with scripts/test.sh, which makes it`);
  }
}

/**
 * The container of the service's one desired-running task once it runs, found through the task (not by
 * `docker ps` alone, which still lists the old container while it stops).
 */
export async function runningContainer(service: string, timeoutMs = 60_000): Promise<string> {
  return until(`a running task of ${service}`, timeoutMs, async () => {
    const taskIds = (await docker("service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", service)).split("\n").filter(Boolean);
    if (taskIds.length !== 1) throw new Error(`${taskIds.length} desired-running tasks`);
    const [task] = JSON.parse(await docker("inspect", "--type", "task", taskIds[0] as string)) as { Status: { State: string; ContainerStatus?: { ContainerID?: string } } }[];
    const cid = task?.Status.ContainerStatus?.ContainerID;
    if (task?.Status.State !== "running" || !cid) throw new Error(`task ${taskIds[0]} is ${task?.Status.State}`);
    const running = (await docker("ps", "-q", "--no-trunc", "-f", `label=com.docker.swarm.service.name=${service}`)).split("\n");
    return running.includes(cid) ? cid : undefined;
  }, 300);
}

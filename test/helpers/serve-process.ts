/**
 * `swarm-mtls serve` as a child process of a test: the built CLI, a minimal environment plus the test's, its output
 * collected (stdout and stderr, in order) for assertions and failure messages.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { CLI, REPO } from "./cli.js";

export interface ServeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServeProcess {
  readonly child: ChildProcess;
  /** Everything serve printed so far. */
  log(): string;
  /** Resolves when the process has exited and its output is read. */
  readonly exited: Promise<ServeExit>;
  /** SIGKILL if it still runs, and wait for the exit (for teardowns). */
  kill(): Promise<void>;
}

/** Starts `swarm-mtls serve ...args` with PATH, HOME and `env`. */
export function spawnServe(args: string[], env: Record<string, string>): ServeProcess {
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  // "close", not "exit": the log is whole (stdout and stderr drained) once `exited` resolves.
  const exited = new Promise<ServeExit>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  return {
    child,
    log: () => log,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/** Throws (with the log) when serve has already exited: for polls that wait for it to answer. */
export function assertServeRuns(s: ServeProcess): void {
  if (s.child.exitCode !== null) throw new Error(`serve exited with ${s.child.exitCode}: ${s.log().slice(-2000)}`);
}

/** Waits until serve's log holds `line` (e.g. "SDS serving"), failing at once with the log if serve exits first. */
export async function untilServeSays(s: ServeProcess, line: string, withinMs = 90_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!s.log().includes(line)) {
    assertServeRuns(s);
    if (Date.now() > deadline) throw new Error(`serve did not log "${line}" within ${withinMs / 1000}s: ${s.log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The README's own words, for tests that follow them: the shell blocks of a section, and a directory that stands for
 * `git clone <this repository> swarm-mtls && npm ci` (without the network: this checkout's files and its installed
 * node_modules), and commands run as a user types them (`sh -c`, in that directory).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./cli.js";

/** The ```sh blocks under a heading of README.md (up to the next heading of the same or a higher level). */
export function readmeBlocks(heading: string): string[][] {
  const text = readFileSync(join(REPO, "README.md"), "utf8");
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`README.md has no heading '${heading}'`);
  const level = (/^#+/.exec(heading) ?? [""])[0].length;
  const blocks: string[][] = [];
  let block: string[] | null = null;
  for (const line of lines.slice(start + 1)) {
    if (block === null && new RegExp(`^#{1,${level}} `).test(line)) break;
    if (block === null && /^```sh\s*$/.test(line)) block = [];
    else if (block !== null && /^```\s*$/.test(line)) {
      blocks.push(block);
      block = null;
    } else if (block !== null && line.trim() !== "") block.push(line.trim());
  }
  return blocks;
}

/** The prose under a heading (up to its first code block), for sentences a test checks. */
export function readmeProse(heading: string): string {
  const text = readFileSync(join(REPO, "README.md"), "utf8");
  const at = text.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README.md has no heading '${heading}'`);
  const rest = text.slice(at + heading.length + 2);
  const next = rest.search(/\n#{1,3} /);
  return next < 0 ? rest : rest.slice(0, next);
}

/** What `git clone` brings: every file of the checkout but the ignored ones (build output, installs, local data). */
const NOT_CLONED = new Set([".git", "node_modules", "dist", ".tap", "data", "tmp", ".test-swarm"]);

/**
 * `git clone <this repository> swarm-mtls && cd swarm-mtls` then `npm ci`, in `parent`: the checkout's files (as they
 * are now, uncommitted edits included), node_modules linked to the installed one (same package-lock.json), and
 * dist/ with its timestamps, so `npm start` finds the build scripts/test.sh just made from these same sources
 * instead of building again. Returns the clone's directory.
 */
export function cloneLike(parent: string): string {
  const dir = join(parent, "swarm-mtls");
  mkdirSync(dir);
  for (const entry of readdirSync(REPO)) {
    if (NOT_CLONED.has(entry) || entry.endsWith(".log")) continue;
    cpSync(join(REPO, entry), join(dir, entry), { recursive: true, preserveTimestamps: true });
  }
  cpSync(join(REPO, "dist"), join(dir, "dist"), { recursive: true, preserveTimestamps: true });
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  return dir;
}

export interface Typed {
  code: number | null;
  /** stdout */
  out: string;
  /** stderr (curl's progress meter, serve's errors) */
  err: string;
}

/** The environment a user's shell has, plus `env` (the test's isolation); SWARM_MTLS_* of the test runner dropped. */
export function userEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("SWARM_MTLS_") && !k.startsWith("npm_") && !k.startsWith("TAP")) base[k] = v;
  return { ...base, ...env };
}

/** Runs one README line with `sh -c` in `cwd`, as typed. */
export function typed(line: string, cwd: string, env: Record<string, string>, timeoutMs = 300_000): Promise<Typed> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", line], { cwd, env: userEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** A README line that keeps running (npm start): its own process group, so the test can stop npm and serve. */
export interface Running {
  child: ChildProcess;
  log(): string;
  exited: Promise<number | null>;
  /** SIGTERM to the group (as Ctrl-C stops npm start), SIGKILL after 30 s; resolves on exit. */
  stop(): Promise<number | null>;
}

export function startTyped(line: string, cwd: string, env: Record<string, string>): Running {
  const child = spawn("sh", ["-c", line], { cwd, env: userEnv(env), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  return {
    child,
    log: () => log,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

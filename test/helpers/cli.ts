import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(fileURLToPath(import.meta.url), "../../..");
/** The built CLI, as users run it (scripts/test.sh builds before the tests run). */
export const CLI = join(REPO, "dist/src/cli/main.js");

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `swarm-mtls ...args` and collects its output. Never throws on a non-zero exit. */
export function runCli(args: string[], p: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: p.cwd ?? REPO,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...p.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), p.timeoutMs ?? 300_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Environment for CLI runs against the test swarm's shared CA (made by scripts/test.sh). Each test gets its own
 * label prefix and lease name so that test files running at the same time never touch each other's services.
 */
export function swarmTestEnv(tag: string = randomBytes(3).toString("hex")): { env: Record<string, string>; prefix: string; tag: string } {
  const dir = process.env.SWARM_MTLS_TEST_DIR ?? join(REPO, ".test-swarm");
  const prefix = `t${tag}.`;
  return {
    tag,
    prefix,
    env: {
      SWARM_MTLS_STORE: "swarm",
      SWARM_MTLS_KEK_FILE: join(dir, "kek"),
      SWARM_MTLS_LABEL_PREFIX: prefix,
      SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.${tag}`,
    },
  };
}

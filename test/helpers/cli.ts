import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { sandboxCa, type SandboxCa } from "../../scripts/sandbox-ca.js";

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
      const leak = keyMaterialIn(stdout + stderr, [p.env?.SWARM_MTLS_KEK_FILE]);
      if (leak) reject(new Error(`swarm-mtls ${args.join(" ")} printed ${leak}: key material must never be printed`));
      else resolvePromise({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * What key material a text gives away, if any: a PEM private key, or the text of a key-encryption key (the shared
 * test KEK and any KEK file named). Every CLI run in the tests is scanned with it.
 */
export function keyMaterialIn(text: string, kekFiles: (string | undefined)[] = []): string | null {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return "a PEM private key";
  const dir = process.env.SWARM_MTLS_TEST_DIR ?? join(REPO, ".test-swarm");
  for (const f of [join(dir, "kek"), ...kekFiles]) {
    if (!f) continue;
    let kek = "";
    try {
      kek = readFileSync(f, "utf8").trim();
    } catch {
      continue;
    }
    if (kek.length >= 32 && (text.includes(kek) || text.includes(Buffer.from(kek, "base64").toString("hex")))) return `the key-encryption key of ${f}`;
  }
  return null;
}

/** The test swarm's shared CA (scripts/test.sh makes it; see scripts/sandbox-ca.ts). */
export const testCa = (): SandboxCa => sandboxCa(REPO);

/**
 * Environment for CLI runs against the test swarm's shared CA (made by scripts/test.sh). Each test gets its own
 * label prefix and lease name so that test files running at the same time never touch each other's services.
 */
export function swarmTestEnv(tag: string = randomBytes(3).toString("hex")): { env: Record<string, string>; prefix: string; tag: string } {
  const ca = testCa();
  const prefix = `t${tag}.`;
  return {
    tag,
    prefix,
    env: {
      ...ca.env,
      SWARM_MTLS_LABEL_PREFIX: prefix,
      SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.${tag}`,
    },
  };
}

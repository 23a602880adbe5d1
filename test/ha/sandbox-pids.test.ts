/**
 * The sandbox script decides which processes are a node's before it SIGKILLs them (kill-node, and `up` when a node's
 * engine does not answer). A node's pid file outlives a reboot, and its pid can be reused by any process of the
 * machine: a CI run once found such a file, took the host's own mount namespace for the node's and killed every
 * process of the machine, the script included ("Killed", sandbox setup failed). `node-pids` prints what kill-node
 * would kill; this test reads it for a stale pid file (nothing). That it finds a running node's engine is checked by
 * failover.test.ts before it kills nodes (the HA files run in parallel: a node of the shared sandbox may be down).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { sh } from "../helpers/swarm-test.js";

const nodePids = async (haDir: string, n: number): Promise<string[]> =>
  (await sh("bash", ["scripts/swarm-sandbox.sh", "node-pids", String(n)], { env: { HA_DIR: haDir }, timeoutMs: 60_000 }))
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");

t.test("a pid file naming a process of the host (a reused pid) names no node process: nothing would be killed", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-stale-pid-"));
  const hostProcess = spawn("sleep", ["300"], { stdio: "ignore" });
  t.teardown(() => {
    hostProcess.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(join(dir, "m1"));
  writeFileSync(join(dir, "managers"), "1\n");
  writeFileSync(join(dir, "m1", "launcher.pid"), `${hostProcess.pid}\n`);

  t.same(await nodePids(dir, 1), [], "node-pids 1 prints nothing for a pid in the host's mount namespace");
  t.equal(hostProcess.exitCode, null, "the host process named by the stale pid file is still running");
  t.equal(hostProcess.signalCode, null, "and was sent no signal");
});

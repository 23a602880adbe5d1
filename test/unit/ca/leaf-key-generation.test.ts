import { spawn } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { REPO } from "../../helpers/cli.js";

// Not a timing threshold: the bound only turns a deadlock (0 % CPU, forever) into a failure instead of a hung run.
const DEADLOCK_BOUND_MS = 20 * 60_000;

t.test("tens of thousands of leaf keys under garbage-collection pressure: key generation never deadlocks", async (t) => {
  const count = 20000;
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(REPO, "test/unit/ca/fixtures/many-leaf-keys.ts"), String(count)], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), DEADLOCK_BOUND_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  t.equal(r.stderr, "", "nothing on stderr");
  t.equal(r.code, 0, "the process ended by itself");
  t.equal(r.stdout.trim(), `done ${count + count / 10 + 1}`, "every key was made");
});

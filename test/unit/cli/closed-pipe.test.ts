import { spawn } from "node:child_process";
import t from "tap";
import { CLI, REPO } from "../../helpers/cli.js";

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  firstLine: string;
}

/**
 * Runs the CLI with stdout on a real pipe whose reader goes away: after reading the first line, or (`closeAtOnce`)
 * before the CLI has written anything, so its write meets a closed pipe (EPIPE).
 */
function runWithClosingReader(args: string[], closeAtOnce: boolean): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let out = "";
    child.stderr.on("data", (d) => (stderr += d));
    if (closeAtOnce) child.stdout.destroy();
    else {
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("\n")) child.stdout.destroy();
      });
    }
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stderr, firstLine: out.split("\n")[0] ?? "" }));
  });
}

t.test("a reader that closes the pipe before the output comes: the CLI exits 0 without a stack trace", async (t) => {
  for (const args of [["rotate", "--help"], ["--help"], ["--version"]]) {
    const r = await runWithClosingReader(args, true);
    t.equal(r.stderr, "", `${args.join(" ")}: nothing on stderr`);
    t.equal(r.code, 0, `${args.join(" ")}: exit 0`);
  }
});

t.test("a reader that takes one line and closes (like `| head -1`) gets that line, and the CLI exits quietly", async (t) => {
  const r = await runWithClosingReader(["rotate", "--help"], false);
  t.equal(r.firstLine, "Usage: swarm-mtls rotate [options] [service...]");
  t.equal(r.stderr, "", "nothing on stderr");
  t.equal(r.code, 0, "exit 0");
});

t.test("`swarm-mtls rotate --help | head -1` in a shell prints the usage line and nothing else", async (t) => {
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn("sh", ["-c", `"${process.execPath}" "${CLI}" rotate --help | head -1`], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  t.equal(r.stdout, "Usage: swarm-mtls rotate [options] [service...]\n");
  t.equal(r.stderr, "");
  t.equal(r.code, 0);
});

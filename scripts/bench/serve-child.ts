/**
 * `swarm-mtls serve` as a child process of a benchmark: the built CLI (dist/src/cli/main.js) on plain HTTP on
 * 127.0.0.1, its JSON log lines kept and parsed, its RSS read from /proc, its admin API called with a bearer token of
 * its own (a file in a private temporary directory, removed on stop), and a SIGTERM stop that reports the exit code.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseServeLogLine, vmRssBytes, type ServeLogLine } from "./load-figures.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A port free on 127.0.0.1 right now. */
export function freeLocalPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolvePort(a.port) : reject(new Error("no port"))));
    });
  });
}

export interface ServeChildStartParams {
  /** The repository (holds dist/src/cli/main.js). */
  repo: string;
  /** The whole environment of the child (SWARM_MTLS_* settings included). */
  env: NodeJS.ProcessEnv;
}

export interface ServeChild {
  pid: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** Every JSON log line so far, in order. */
  lines: ServeLogLine[];
  /** Epoch ms of the last line of any kind on stderr. */
  lastOutputAt(): number;
  /** Lines on stderr that are not JSON (none expected). */
  otherOutput: string[];
  /** VmRSS in bytes now; undefined once the process is gone. */
  rssBytes(): number | undefined;
  /** Resolves with the first line (from `fromIndex` on) that `match` accepts; rejects after `withinMs` or on exit. */
  waitForLine(match: (l: ServeLogLine) => boolean, withinMs: number, fromIndex?: number): Promise<ServeLogLine>;
  /** GET/POST on the API; admin calls carry the bearer token. No client timeout (a forced cycle takes minutes). */
  call(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; text: string }>;
  /** SIGTERM, then waits up to `withinMs` (then SIGKILL); the exit code, or the signal that ended it. */
  stop(withinMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set once the process has exited. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | null;
}

/** Starts `serve --no-tls` on a free loopback port with an admin token of its own; resolves once it logs "serving". */
export async function startServeChild(p: ServeChildStartParams, servingWithinMs: number): Promise<ServeChild> {
  const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-load-"));
  const tokenFile = join(dir, "admin-token");
  const token = randomBytes(24).toString("hex");
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const port = await freeLocalPort();
  const url = `http://127.0.0.1:${port}`;
  // Its own process group: a Ctrl-C at the terminal reaches only the benchmark, which stops serve itself.
  const child: ChildProcess = spawn(
    process.execPath,
    [join(p.repo, "dist/src/cli/main.js"), "serve", "--no-tls", "--listen", `127.0.0.1:${port}`, "--admin-token-file", tokenFile],
    { cwd: p.repo, env: p.env, stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit); // a second Ctrl-C exits the benchmark at once: never leave serve behind

  const lines: ServeLogLine[] = [];
  const otherOutput: string[] = [];
  let lastOutput = Date.now();
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitedP = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      process.off("exit", killOnExit);
      rmSync(dir, { recursive: true, force: true });
      resolveExit(exit);
    });
  });
  let partial = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    lastOutput = Date.now();
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    for (const text of parts) {
      if (text.trim() === "") continue;
      const l = parseServeLogLine(text);
      if (l) lines.push(l);
      else otherOutput.push(text);
    }
  });

  const waitForLine = async (match: (l: ServeLogLine) => boolean, withinMs: number, fromIndex = 0): Promise<ServeLogLine> => {
    const deadline = Date.now() + withinMs;
    for (;;) {
      for (let i = fromIndex; i < lines.length; i++) if (match(lines[i] as ServeLogLine)) return lines[i] as ServeLogLine;
      if (exit) throw new Error(`serve exited (${exit.code ?? exit.signal}) while waiting; its last lines:\n${lines.slice(-5).map((l) => `  ${l.msg} ${l.err ?? l.error ?? ""}`).join("\n")}${otherOutput.slice(-5).join("\n")}`);
      if (Date.now() > deadline) throw new Error(`serve: no matching log line within ${withinMs / 1000}s`);
      await sleep(100);
    }
  };

  const call = (method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; text: string }> =>
    new Promise((resolveCall, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        `${url}${path}`,
        {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(data ? { "content-type": "application/json", "content-length": String(data.length) } : {}),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => resolveCall({ status: res.statusCode ?? 0, text }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(data);
    });

  const served: ServeChild = {
    pid: child.pid as number,
    url,
    lines,
    otherOutput,
    lastOutputAt: () => lastOutput,
    rssBytes() {
      if (exit) return undefined;
      try {
        return vmRssBytes(readFileSync(`/proc/${child.pid}/status`, "utf8"));
      } catch {
        return undefined;
      }
    },
    waitForLine,
    call,
    async stop(withinMs) {
      if (exit) return exit;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), withinMs);
      const r = await exitedP;
      clearTimeout(timer);
      return r;
    },
    exited: () => exit,
  };
  try {
    await waitForLine((l) => l.msg === "serving", servingWithinMs);
  } catch (e) {
    await served.stop(10_000);
    throw e;
  }
  return served;
}

/**
 * A fault-injecting HTTP proxy on a unix socket, in front of the real Docker socket. Point the CLI at it with
 * `DOCKER_HOST=<proxy.dockerHost>`; every call is forwarded unchanged unless a rule matches it (method + path
 * regex), in which case the rule's fault is injected instead. The docker CLI used as the test oracle keeps talking
 * to the real socket.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What to do instead of forwarding a call. */
export type DockerFault =
  /** Answer 500 with an engine-style JSON message. */
  | "server-error"
  /** Drop the connection without an answer. */
  | "reset"
  /** Forward, but only after `delayMs`. */
  | "slow"
  /** Answer "update out of sequence" (the engine's stale-version error) with `status`. */
  | "out-of-sequence";

export interface FaultRule {
  /** HTTP method to match, e.g. "POST". */
  method: string;
  /** Matched against the request path (with its API version prefix and query), e.g. /\/secrets\/create/. */
  path: RegExp;
  fault: DockerFault;
  /** How many matching calls get the fault; default 1 for "out-of-sequence", every one otherwise. */
  times?: number;
  /** Delay for "slow", ms; default 2000. */
  delayMs?: number;
  /** HTTP status for "out-of-sequence"; default 500 (what Docker 20.10 answers; newer engines may answer 409). */
  status?: number;
}

/** One call a rule faulted. */
export interface FaultHit {
  method: string;
  path: string;
  fault: DockerFault;
}

export interface DockerFaultProxy {
  /** `unix://<socket>` for DOCKER_HOST. */
  dockerHost: string;
  /** Active rules, first match wins; push or splice freely. */
  rules: FaultRule[];
  /** Every faulted call, in order. */
  hits: FaultHit[];
  /** Every call seen (method + path), faulted or not. */
  calls: string[];
  close(): Promise<void>;
}

export interface DockerFaultProxyStartParams {
  /** The real engine socket; default /var/run/docker.sock. */
  upstream?: string;
  /** Initial rules; default none. */
  rules?: FaultRule[];
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.on("data", () => undefined);
    req.on("end", resolve);
    req.on("error", () => resolve());
  });
}

export async function startDockerFaultProxy(p: DockerFaultProxyStartParams = {}): Promise<DockerFaultProxy> {
  const upstream = p.upstream ?? "/var/run/docker.sock";
  const dir = mkdtempSync(join(tmpdir(), "docker-fault-"));
  const socketPath = join(dir, "docker.sock");
  const rules = [...(p.rules ?? [])];
  const used = new Map<FaultRule, number>();
  const hits: FaultHit[] = [];
  const calls: string[] = [];

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const up = request({ socketPath: upstream, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    calls.push(`${method} ${path}`);
    const rule = rules.find((r) => r.method === method && r.path.test(path) && (used.get(r) ?? 0) < (r.times ?? (r.fault === "out-of-sequence" ? 1 : Infinity)));
    if (!rule) return forward(req, res);
    used.set(rule, (used.get(rule) ?? 0) + 1);
    hits.push({ method, path, fault: rule.fault });
    switch (rule.fault) {
      case "slow":
        setTimeout(() => forward(req, res), rule.delayMs ?? 2000);
        return;
      case "reset":
        void drain(req).then(() => req.socket.destroy());
        return;
      case "server-error":
      case "out-of-sequence": {
        const status = rule.fault === "server-error" ? 500 : rule.status ?? 500;
        const message = rule.fault === "server-error" ? "injected fault: internal server error" : "rpc error: code = Unknown desc = update out of sequence";
        void drain(req).then(() => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify({ message }));
        });
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  return {
    dockerHost: `unix://${socketPath}`,
    rules,
    hits,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

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
  /** Drop the connection without an answer (the engine never sees the call). */
  | "reset"
  /** Forward the call, let the engine answer, then drop the connection: the call took effect, its answer is lost. */
  | "reset-after-forward"
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
  /** Also matched against the request body (as text), e.g. /"Name":"mtls\.api\.key\.v1"/; default any body. */
  body?: RegExp;
  /** How many matching calls get the fault; default 1 for "out-of-sequence", every one otherwise. */
  times?: number;
  /** Fault only the Nth matching call (1-based); the calls before it are forwarded. Default: from the first. */
  nth?: number;
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

  /** Forwards `body` (already read) and hands the engine's answer to `answer`. */
  const forwardBuffered = (req: IncomingMessage, body: Buffer, answer: (status: number, headers: IncomingMessage["headers"], data: Buffer) => void, fail: () => void): void => {
    const up = request({ socketPath: upstream, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const chunks: Buffer[] = [];
      ur.on("data", (c: Buffer) => chunks.push(c));
      ur.on("end", () => answer(ur.statusCode ?? 502, ur.headers, Buffer.concat(chunks)));
      ur.on("error", fail);
    });
    up.on("error", fail);
    up.end(body);
  };
  /** Calls seen per rule (for `nth`), whether faulted or not. */
  const seen = new Map<FaultRule, number>();

  const server = createServer((req, res) => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    calls.push(`${method} ${path}`);
    const candidates = rules.filter((r) => r.method === method && r.path.test(path));
    if (candidates.length === 0) return forward(req, res);
    // A rule may look at the body: read it first, then forward it as read.
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const rule = candidates.find((r) => {
        if (r.body && !r.body.test(body.toString("utf8"))) return false;
        const n = (seen.get(r) ?? 0) + 1;
        seen.set(r, n);
        if (r.nth !== undefined && n !== r.nth) return false;
        return (used.get(r) ?? 0) < (r.times ?? (r.fault === "out-of-sequence" ? 1 : Infinity));
      });
      const pass = () =>
        forwardBuffered(req, body, (status, headers, data) => {
          res.writeHead(status, headers);
          res.end(data);
        }, () => res.destroy());
      if (!rule) return pass();
      inject(rule, req, res, body, pass);
    });
  });

  const inject = (rule: FaultRule, req: IncomingMessage, res: ServerResponse, body: Buffer, pass: () => void): void => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    used.set(rule, (used.get(rule) ?? 0) + 1);
    hits.push({ method, path, fault: rule.fault });
    switch (rule.fault) {
      case "slow":
        setTimeout(pass, rule.delayMs ?? 2000);
        return;
      case "reset":
        req.socket.destroy();
        return;
      case "reset-after-forward":
        forwardBuffered(req, body, () => req.socket.destroy(), () => req.socket.destroy());
        return;
      case "server-error":
      case "out-of-sequence": {
        const status = rule.fault === "server-error" ? 500 : rule.status ?? 500;
        const message = rule.fault === "server-error" ? "injected fault: internal server error" : "rpc error: code = Unknown desc = update out of sequence";
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ message }));
      }
    }
  };
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

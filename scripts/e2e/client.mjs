// client.mjs — the calling service of the end-to-end stack (image swarm-mtls/echo:local, second identity).
//
// It calls the echo service over mTLS from inside the overlay network with its own certificate
// (/run/secrets/tls.crt, tls.key, ca.crt), the way an Envoy STRICT_DNS cluster would: every request re-resolves
// tasks.<echo> (ECHO_HOST, default tasks.echo), starts on the next address (round robin), and tries the next
// address when a connection is refused, reset or times out before any answer (counted as `retries`). A request
// fails only when every address of MAX_ROUNDS resolutions (default 3, 100 ms apart) failed, or on any TLS or HTTP
// error (a wrong certificate is never retried).
//
// A plain-HTTP control API on CONTROL_PORT (default 8081, published in host mode for the test):
//   GET  /health                 200 once the certificate is loaded (the healthcheck)
//   GET  /once                   one request: {ok, serial, peer, task, servedSerial, servedIssuer, servedChainPem}
//   POST /runs {maxRequests, maxMs, intervalMs}   starts a bounded loop (at most 1000 requests, at most 120 s) -> {id}
//   GET  /runs/:id               {state, requests, ok, failed, retries, serials: {serial: count}, lastSerial, errors}
//   POST /runs/:id/stop          ends the loop after the request in flight
//   POST /probe {cert?, key?}    one request to echo with these credentials instead of ours (none: no client
//                                certificate) -> {refused, error?, status?}; for the "foreign CA is refused" check.
// Every finished run is also printed to stdout as one JSON line.
import { readFileSync } from "node:fs";
import { promises as dns } from "node:dns";
import { createServer } from "node:http";
import { request as httpsRequest } from "node:https";
import { checkServerIdentity } from "node:tls";

const dir = process.env.SECRETS_DIR ?? "/run/secrets";
const echoHost = process.env.ECHO_HOST ?? "tasks.echo";
const echoName = process.env.ECHO_NAME ?? echoHost; // the DNS name the echo certificate must carry
const echoPort = Number(process.env.ECHO_PORT ?? 8443);
const controlPort = Number(process.env.CONTROL_PORT ?? 8081);
const maxRounds = Number(process.env.MAX_ROUNDS ?? 3);
const connectTimeoutMs = Number(process.env.CONNECT_TIMEOUT_MS ?? 2000);
const log = (msg, extra = {}) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...extra })}\n`);

let own;
try {
  own = { cert: readFileSync(`${dir}/tls.crt`), key: readFileSync(`${dir}/tls.key`), ca: readFileSync(`${dir}/ca.crt`) };
} catch (e) {
  log("no certificate mounted yet (waiting for swarm-mtls to attach one)", { error: e.code ?? e.message });
  process.exit(3);
}

/** Errors of the connection itself (before any answer): the next task may well answer. */
const RETRYABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EPIPE", "ECONNABORTED"]);
let rr = 0;

/** One HTTPS request to one address; resolves with the answer or rejects with the error (code kept). */
function callOnce(address, creds) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: address,
      port: echoPort,
      path: "/",
      method: "GET",
      agent: false,
      servername: echoName,
      checkServerIdentity: (_host, cert) => checkServerIdentity(echoName, cert),
      ca: own.ca,
      ...(creds.cert ? { cert: creds.cert, key: creds.key } : {}),
      rejectUnauthorized: true,
      timeout: connectTimeoutMs,
    }, (res) => {
      const served = res.socket.getPeerCertificate(true);
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { code: "HTTP", answered: true }));
        try {
          resolve({ ...JSON.parse(body), address, servedSerial: served.serialNumber?.toLowerCase(), servedIssuer: served.issuer?.CN, servedChainPem: pemOf(served) });
        } catch (e) {
          reject(Object.assign(e, { answered: true }));
        }
      });
      res.on("error", (e) => reject(Object.assign(e, { answered: true })));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("connect/answer timeout"), { code: "ETIMEDOUT" })));
    req.on("error", reject);
    req.end();
  });
}

function pemOf(c) {
  if (!c?.raw) return null;
  return `-----BEGIN CERTIFICATE-----\n${c.raw.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
}

/** One logical request, STRICT_DNS style. Returns {ok: true, ...answer, retries} or {ok: false, error, retries}. */
async function call(creds = own, retryable = RETRYABLE) {
  let retries = 0;
  let last = "no address";
  for (let round = 0; round < maxRounds; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, 100));
    let addrs = [];
    try {
      addrs = await dns.resolve4(echoHost);
    } catch (e) {
      last = `resolve ${echoHost}: ${e.code ?? e.message}`;
      retries++;
      continue;
    }
    const start = rr++ % addrs.length;
    for (let i = 0; i < addrs.length; i++) {
      const address = addrs[(start + i) % addrs.length];
      try {
        return { ok: true, retries, ...(await callOnce(address, creds)) };
      } catch (e) {
        last = `${address}: ${e.code ?? ""} ${e.message}`.trim();
        if (e.answered || !retryable.has(e.code)) return { ok: false, retries, error: last, code: e.code ?? null };
        retries++;
      }
    }
  }
  return { ok: false, retries, error: last, code: "EXHAUSTED" };
}

const runs = new Map();
let nextId = 1;

function startRun(p) {
  const maxRequests = Math.min(1000, Math.max(1, Number(p.maxRequests ?? 300)));
  const maxMs = Math.min(120_000, Math.max(100, Number(p.maxMs ?? 60_000)));
  const intervalMs = Math.max(0, Number(p.intervalMs ?? 100));
  const run = { id: String(nextId++), state: "running", requests: 0, ok: 0, failed: 0, retries: 0, serials: {}, lastSerial: null, peers: {}, errors: [], startedAt: new Date().toISOString(), finishedAt: null, stop: false };
  runs.set(run.id, run);
  (async () => {
    const t0 = Date.now();
    while (!run.stop && run.requests < maxRequests && Date.now() - t0 < maxMs) {
      const began = Date.now();
      const r = await call();
      run.requests++;
      run.retries += r.retries;
      if (r.ok) {
        run.ok++;
        run.serials[r.serial] = (run.serials[r.serial] ?? 0) + 1;
        run.lastSerial = r.serial;
        run.peers[r.peer] = (run.peers[r.peer] ?? 0) + 1;
      } else {
        run.failed++;
        if (run.errors.length < 20) run.errors.push({ at: new Date().toISOString(), error: r.error });
      }
      const wait = intervalMs - (Date.now() - began);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
    run.state = "done";
    run.finishedAt = new Date().toISOString();
    log("run finished", view(run));
  })();
  return run;
}

const view = (run) => {
  const { stop: _stop, ...rest } = run;
  return rest;
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    let s = "";
    req.setEncoding("utf8");
    req.on("data", (d) => {
      s += d;
      if (s.length > 65536) req.destroy(new Error("body too large"));
    });
    req.on("end", () => {
      try {
        resolve(s ? JSON.parse(s) : {});
      } catch (e) {
        reject(e);
      }
    });
    req.on("error", reject);
  });
}

const control = createServer(async (req, res) => {
  const reply = (status, obj) => {
    const body = JSON.stringify(obj);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
  try {
    const url = new URL(req.url ?? "/", "http://x");
    const m = /^\/runs\/(\d+)(\/stop)?$/.exec(url.pathname);
    if (req.method === "GET" && url.pathname === "/health") return reply(200, { ok: true });
    if (req.method === "GET" && url.pathname === "/once") return reply(200, await call());
    if (req.method === "POST" && url.pathname === "/runs") return reply(201, view(startRun(await readBody(req))));
    if (m && runs.has(m[1])) {
      const run = runs.get(m[1]);
      if (req.method === "POST" && m[2]) run.stop = true;
      return reply(200, view(run));
    }
    if (req.method === "POST" && url.pathname === "/probe") {
      const b = await readBody(req);
      // Only a refused connection (a task going away) is retried: a reset is how a TLS server refuses a client.
      const r = await call(b.cert && b.key ? { cert: b.cert, key: b.key } : {}, new Set(["ECONNREFUSED"]));
      return reply(200, r.ok ? { refused: false, serial: r.serial, peer: r.peer } : { refused: true, error: r.error, code: r.code });
    }
    reply(404, { error: "not found" });
  } catch (e) {
    reply(400, { error: e.message });
  }
});
control.listen(controlPort, "0.0.0.0", () => log("control API listening", { port: controlPort, echo: `${echoHost}:${echoPort}` }));
process.once("SIGTERM", () => {
  control.close();
  setTimeout(() => process.exit(0), 200).unref();
});

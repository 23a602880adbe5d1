// echo-server.mjs — the mTLS test server of the end-to-end stack (image swarm-mtls/echo:local).
//
// HTTPS on ECHO_PORT (default 8443) with the certificate swarm-mtls mounted into the task:
// /run/secrets/tls.crt (leaf + intermediate), tls.key, ca.crt (trust bundle). It requires a client certificate
// of that bundle (requestCert + rejectUnauthorized) and answers every request with JSON
//   {"serial": "<its own certificate serial, lower-case hex>", "peer": "<the caller's URI SAN>", "task": "<hostname>"}
// A plain-HTTP GET /health on HEALTH_PORT (default 8080) answers 200 once the TLS listener is up (the stack's
// healthcheck; Swarm puts a task into tasks.<service> DNS only once it is healthy).
//
// A task's secrets never change, so nothing is re-read: a new certificate arrives as a new task. Without a
// certificate (a service created before swarm-mtls attached one) it exits 3 with one line saying so, and Swarm
// restarts it. On SIGTERM it keeps serving for DRAIN_MS (default 1500 ms: Swarm has already taken the task out of
// DNS, clients that resolved it just before still get an answer), then closes and exits 0.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { hostname } from "node:os";

const dir = process.env.SECRETS_DIR ?? "/run/secrets";
const port = Number(process.env.ECHO_PORT ?? 8443);
const healthPort = Number(process.env.HEALTH_PORT ?? 8080);
const drainMs = Number(process.env.DRAIN_MS ?? 1500);
const log = (msg, extra = {}) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...extra })}\n`);

let cert, key, ca;
try {
  cert = readFileSync(`${dir}/tls.crt`);
  key = readFileSync(`${dir}/tls.key`);
  ca = readFileSync(`${dir}/ca.crt`);
} catch (e) {
  log("no certificate mounted yet (waiting for swarm-mtls to attach one)", { error: e.code ?? e.message });
  process.exit(3);
}
const serial = new X509Certificate(cert).serialNumber.toLowerCase();

/** The caller's URI SAN (its SPIFFE ID), from the verified peer certificate. */
function peerUri(socket) {
  const san = socket.getPeerCertificate()?.subjectaltname ?? "";
  const uri = san.split(", ").find((s) => s.startsWith("URI:"));
  return uri ? uri.slice(4) : null;
}

const tlsServer = createHttpsServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, (req, res) => {
  const body = JSON.stringify({ serial, peer: peerUri(req.socket), task: hostname() });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), connection: "close" });
  res.end(body);
});
tlsServer.on("tlsClientError", (e) => log("handshake refused", { error: e.code ?? e.message }));

let listening = false;
const health = createHttpServer((req, res) => {
  const ok = listening && req.url === "/health";
  res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
  res.end(ok ? "ok\n" : "not ready\n");
});

tlsServer.listen(port, "0.0.0.0", () => {
  listening = true;
  log("serving", { port, serial });
});
health.listen(healthPort, "0.0.0.0");

process.once("SIGTERM", () => {
  log("SIGTERM: draining", { drainMs });
  setTimeout(() => {
    listening = false;
    tlsServer.close(() => process.exit(0));
    health.close();
    tlsServer.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  }, drainMs);
});

/**
 * The memory floor under `serve`'s SDS streams, measured beside it: a bare Node process that only holds N mTLS
 * connections (the same certificates, the same TLS settings as the SDS listener: client certificate required, TLS ≥ 1.2)
 * and writes one response of an SDS response's size on each. Three servers, each a layer more of what SDS runs on:
 * node:tls alone, node:http2 (one stream per connection), and a grpc-js server (one bidirectional stream per
 * connection, serve's server options). What such a process gains in RSS per connection is what no SDS code can save.
 *
 * As a child: node dist/scripts/bench/sds-floor.js <tls|http2|grpc> <key file> <cert file> <ca file>
 * (prints "PORT <n>", holds every connection until killed).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { vmRssBytes } from "./load-figures.js";

export const FLOOR_KINDS = ["tls", "http2", "grpc"] as const;
export type FloorKind = (typeof FLOOR_KINDS)[number];
/** About the size of one SDS response (a working certificate with its chain and key, and the bundle). */
const PAYLOAD = Buffer.alloc(2500, 0x2a);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const bytes = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const SERVICE: grpc.ServiceDefinition = {
  Hold: { path: "/bench.Floor/Hold", requestStream: true, responseStream: true, requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize, responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize },
};

function serveFloor(kind: FloorKind, tlsFiles: { key: Buffer; cert: Buffer; ca: Buffer }): void {
  const held: unknown[] = [];
  const options = { ...tlsFiles, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" as const };
  const ready = (port: number): void => void process.stdout.write(`PORT ${port}\n`);
  if (kind === "tls") {
    const s = tls.createServer(options, (socket) => {
      held.push(socket);
      socket.on("data", () => undefined);
      socket.write(PAYLOAD);
    });
    s.listen(0, "127.0.0.1", () => ready((s.address() as { port: number }).port));
  } else if (kind === "http2") {
    const s = http2.createSecureServer(options);
    s.on("stream", (stream: http2.ServerHttp2Stream) => {
      held.push(stream);
      stream.on("data", () => undefined);
      stream.respond({ ":status": 200 });
      stream.write(PAYLOAD);
    });
    s.listen(0, "127.0.0.1", () => ready((s.address() as { port: number }).port));
  } else {
    const s = new grpc.Server({ "grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": 1, "grpc.enable_channelz": 0 });
    s.addService(SERVICE, {
      Hold: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        held.push(call);
        call.on("data", () => undefined);
        call.write(PAYLOAD);
      },
    });
    const creds = grpc.ServerCredentials.createSsl(tlsFiles.ca, [{ private_key: tlsFiles.key, cert_chain: tlsFiles.cert }], true);
    s.bindAsync("127.0.0.1:0", creds, (e, port) => {
      if (e) throw e;
      ready(port);
    });
  }
}

/** One client connection with one open stream that has received its first bytes; close() ends it. */
function holdOne(kind: FloorKind, port: number, t: { key: Buffer; cert: Buffer; ca: Buffer }): { ready: Promise<void>; close(): void } {
  const noName = { servername: "localhost", checkServerIdentity: () => undefined };
  if (kind === "tls") {
    const s = tls.connect({ host: "127.0.0.1", port, ...t, ...noName });
    return { ready: new Promise((r, j) => (s.once("data", () => r()), s.once("error", j))), close: () => s.destroy() };
  }
  if (kind === "http2") {
    const c = http2.connect(`https://127.0.0.1:${port}`, { ...t, ...noName });
    const req = c.request({ ":method": "POST", ":path": "/hold" });
    return { ready: new Promise((r, j) => (req.once("data", () => r()), req.once("error", j), c.once("error", j))), close: () => c.destroy() };
  }
  const Client = grpc.makeGenericClientConstructor(SERVICE, "Floor");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(t.ca, t.key, t.cert, noName), { "grpc.ssl_target_name_override": "localhost" });
  const call = (client as unknown as { Hold(): grpc.ClientDuplexStream<Buffer, Buffer> }).Hold();
  call.write(PAYLOAD);
  return {
    ready: new Promise((r, j) => (call.once("data", () => r()), call.once("error", j))),
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

export interface FloorFigure {
  kind: FloorKind;
  /** VmRSS of the bare server before any connection and holding all of them, bytes. */
  rssBefore: number;
  rssHolding: number;
  connections: number;
}

/**
 * Starts a bare `kind` server as a child, opens one connection per client certificate (each its own mTLS identity),
 * reads the child's VmRSS before and after (settled 3 s), and stops everything.
 */
export async function measureFloor(kind: FloorKind, server: { key: Buffer; cert: Buffer; ca: Buffer }, clients: readonly { key: Buffer; cert: Buffer }[], files: { key: string; cert: string; ca: string }): Promise<FloorFigure> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), kind, files.key, files.cert, files.ca], { stdio: ["ignore", "pipe", "inherit"] });
  const open: { close(): void }[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (d) => {
        out += String(d);
        const m = /PORT (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`the bare ${kind} server exited (${code})`)));
    });
    const rss = (): number => vmRssBytes(readFileSync(`/proc/${child.pid}/status`, "utf8")) ?? NaN;
    await sleep(3000);
    const rssBefore = rss();
    for (let i = 0; i < clients.length; i += 50) {
      const batch = clients.slice(i, i + 50).map((c) => holdOne(kind, port, { ...c, ca: server.ca }));
      open.push(...batch);
      await Promise.all(batch.map((b) => b.ready));
    }
    await sleep(3000);
    return { kind, rssBefore, rssHolding: rss(), connections: clients.length };
  } finally {
    for (const c of open) c.close();
    child.kill("SIGKILL");
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, key, cert, ca] = process.argv.slice(2) as [FloorKind, string, string, string];
  if (!FLOOR_KINDS.includes(kind)) throw new Error(`usage: sds-floor.js <${FLOOR_KINDS.join("|")}> <key> <cert> <ca>`);
  serveFloor(kind, { key: readFileSync(key), cert: readFileSync(cert), ca: readFileSync(ca) });
}

/**
 * SDS at scale against the real `serve` (embedded mode, file store, a CA of the run's own): N identities opted in to
 * SDS, one StreamSecrets stream each over mTLS with that identity's own bootstrap certificate (the gRPC client is
 * built from Envoy's protos and ACKs like Envoy). Then a forced rotation: a new intermediate written into the CA state
 * (what an intermediate CA rotation does), which makes every working certificate due. Measured: time until every
 * stream has received and ACKed a working certificate from the new intermediate, streams reopened (task restarts
 * have no equivalent here: a stream that stays open is a sidecar that was not restarted), serve's RSS with N streams.
 * Baseline in the same run: the versioned-secret rollout of M busybox services on the sandbox swarm (concurrency 4,
 * serve's default), where every rotation replaces each service's task.
 *
 * Memory: serve's own process (the child's pid, checked to be `serve`): VmRSS from /proc, heap and external from its
 * /metrics, before the streams, holding them and after the rotation. Beside it, the floor (./sds-floor.ts): bare Node
 * servers holding the same N mTLS connections with the same certificates: node:tls, node:http2, grpc-js.
 *
 * Run: npm run bench:sds   (options: --streams N (default 1000), --services M (default 20), --no-baseline, --no-floor,
 * --serve-node-options '<node flags>': serve's NODE_OPTIONS, e.g. --max-semi-space-size=1)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { certFingerprint, createIntermediateCa, openAuthority, sealAuthority } from "../../src/ca/index.js";
import { loadSdsProtos, SECRET_TYPE_URL, type DiscoveryRequest, type DiscoveryResponse } from "../../src/sds/sds-protos.js";
import { readKekFile } from "../../src/store/kek-file.js";
import { openFleetBench, REPO } from "./bench-fleet.js";
import { arg, loadAverage, positiveInt, printTable, runMain, sec } from "./bench-kit.js";
import { promValue, vmRssBytes } from "./load-figures.js";
import { FLOOR_KINDS, measureFloor, type FloorFigure } from "./sds-floor.js";
import { freeLocalPort } from "./serve-child.js";

const TD = "bench.local";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const rss = (pid: number): number | undefined => {
  try {
    return vmRssBytes(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return undefined;
  }
};
const mib = (b: number | undefined): string => (b === undefined || Number.isNaN(b) ? "-" : (b / 1048576).toFixed(1));
const kib = (b: number): string => (Number.isNaN(b) ? "-" : (b / 1024).toFixed(1));

/** serve's memory as it sees it: VmRSS from /proc/<pid>, heap and external (Buffers, WebAssembly) from its /metrics. */
interface ServeMemory {
  rss: number | undefined;
  heapUsed: number | undefined;
  heapTotal: number | undefined;
  external: number | undefined;
}
async function serveMemory(pid: number, apiPort: number): Promise<ServeMemory> {
  const text = await fetch(`http://127.0.0.1:${apiPort}/metrics`).then((r) => r.text(), () => "");
  const metric = (name: string): number | undefined => promValue(text, `swarm_mtls_${name}`);
  return { rss: rss(pid), heapUsed: metric("nodejs_heap_size_used_bytes"), heapTotal: metric("nodejs_heap_size_total_bytes"), external: metric("nodejs_external_memory_bytes") };
}

async function waitFor<T>(what: string, withinMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs / 1000}s`);
    await sleep(200);
  }
}

interface Stream {
  /** Issuer (PEM of the intermediate's subject) of each ACKed working certificate, with when it was ACKed. */
  acked: { issuer: string; at: number }[];
  opens: number;
  errors: number;
  close(): void;
}

const protos = loadSdsProtos();
const Client = grpc.makeGenericClientConstructor(protos.service, "SecretDiscoveryService");

/** One Envoy-like stream: subscribes to its working certificate and the bundle, ACKs every response. */
function openStream(address: string, spiffeId: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Stream {
  const s: Stream = { acked: [], opens: 1, errors: 0, close: () => undefined };
  const client = new Client(address, grpc.credentials.createSsl(tls.ca, tls.key, tls.cert), { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" });
  const call = (client as unknown as { StreamSecrets(): grpc.ClientDuplexStream<Partial<DiscoveryRequest>, DiscoveryResponse> }).StreamSecrets();
  const names = [spiffeId, `spiffe://${TD}`];
  call.on("data", (r: DiscoveryResponse) => {
    const chain = r.resources.find((x) => x.name === spiffeId)?.tls_certificate?.certificate_chain.inline_bytes;
    call.write({ version_info: r.version_info, resource_names: names, type_url: SECRET_TYPE_URL, response_nonce: r.nonce });
    if (chain) s.acked.push({ issuer: new X509Certificate(chain).issuer, at: Date.now() });
  });
  call.on("error", () => {
    s.errors++;
  });
  call.write({ node: { id: spiffeId, cluster: "bench" }, resource_names: names, type_url: SECRET_TYPE_URL });
  s.close = () => {
    call.cancel();
    client.close();
  };
  return s;
}

interface SdsRun {
  reopened: number;
  deliveredMs: number;
  /** serve's RSS with the bootstrap certificates issued and with the N streams open. */
  rssIdle: number;
  rssStreams: number;
  floor: FloorFigure[];
}

/** Runs the bare servers of ./sds-floor.ts with the run's certificates: identity 0's as the server's, every identity's as a client. */
async function floorRun(certs: string, ids: readonly string[]): Promise<FloorFigure[]> {
  const file = (id: string, f: string): string => join(certs, id, f);
  const first = ids[0] as string;
  const files = { key: file(first, "tls.key"), cert: file(first, "tls.crt"), ca: file(first, "ca.crt") };
  const server = { key: readFileSync(files.key), cert: readFileSync(files.cert), ca: readFileSync(files.ca) };
  const clients = ids.map((id) => ({ key: readFileSync(file(id, "tls.key")), cert: readFileSync(file(id, "tls.crt")) }));
  const out: FloorFigure[] = [];
  for (const kind of FLOOR_KINDS) {
    console.error(`floor: a bare ${kind} server holding ${ids.length} mTLS connections …`);
    out.push(await measureFloor(kind, server, clients, files));
  }
  return out;
}

async function sdsRun(n: number, withFloor: boolean, nodeOptions: string | undefined): Promise<SdsRun> {
  const dir = mkdtempSync(join(tmpdir(), "bench-sds-"));
  const data = join(dir, "data");
  const ids = Array.from({ length: n }, (_, i) => `s${String(i).padStart(4, "0")}`);
  writeFileSync(join(dir, "config.yaml"), ["identities:", ...ids.map((id) => `  - { name: ${id}, sds: true }`), "sds: { enabled: true, workingTtl: 1h }", ""].join("\n"));
  const apiPort = await freeLocalPort();
  const sdsPort = await freeLocalPort();
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *", SWARM_MTLS_LOG_LEVEL: "warn", ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) };
  const child: ChildProcess = spawn(process.execPath, [join(REPO, "dist/src/cli/main.js"), "serve", "--config", join(dir, "config.yaml"), "--store", `file:${data}`, "--trust-domain", TD, "--no-tls", "--listen", `127.0.0.1:${apiPort}`, "--sds-listen", `127.0.0.1:${sdsPort}`], { env, stdio: ["ignore", "ignore", "pipe"], detached: true });
  let log = "";
  child.stderr?.on("data", (d) => (log = (log + String(d)).slice(-4000)));
  const kill = () => child.kill("SIGKILL");
  process.on("exit", kill);
  const streams: Stream[] = [];
  let floor: FloorFigure[] = [];
  try {
    const pid = child.pid as number;
    // The figures are this process's own: the node that runs the CLI's `serve`, not a wrapper.
    if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("serve")) throw new Error(`pid ${pid} is not serve`);
    await waitFor(`serve writes ${n} bootstrap certificates (${log.slice(-500)})`, 30 * 60_000, () => {
      if (child.exitCode !== null) throw new Error(`serve exited: ${log.slice(-1000)}`);
      return ids.every((id) => existsSync(join(data, "certs", id, "tls.key"))) ? true : undefined;
    });
    await sleep(3000);
    const memIdle = await serveMemory(pid, apiPort);
    console.error(`serve has the ${n} bootstrap certificates; opening ${n} streams …`);
    const ca = readFileSync(join(data, "certs", ids[0] as string, "ca.crt"));
    const openedAt = Date.now();
    for (const id of ids) {
      const f = (x: string) => readFileSync(join(data, "certs", id, x));
      streams.push(openStream(`127.0.0.1:${sdsPort}`, `spiffe://${TD}/id/${id}`, { ca, cert: f("tls.crt"), key: f("tls.key") }));
    }
    await waitFor("every stream has its first working certificate", 10 * 60_000, () => (streams.every((s) => s.acked.length > 0) ? true : undefined));
    const firstMs = Date.now() - openedAt;
    await sleep(3000);
    const memStreams = await serveMemory(pid, apiPort);

    // The forced rotation: a new intermediate in the CA state, as an intermediate CA rotation writes it.
    const kek = await readKekFile(join(data, "kek"));
    const a = await openAuthority(readFileSync(join(data, "ca-state.json"), "utf8"), kek);
    const next = await createIntermediateCa({ signer: a.roots[0] as NonNullable<(typeof a.roots)[0]>, ttlSeconds: 30 * 86400, name: a.name });
    const newCn = next.cert.subject.replace(/^.*CN=/, "").split(",")[0] as string;
    const newFingerprint = certFingerprint(next);
    writeFileSync(join(data, "ca-state.json"), sealAuthority({ ...a, intermediate: next }, kek), { mode: 0o600 });
    const rotatedAt = Date.now();
    console.error("new intermediate written; waiting for every stream to ACK a certificate from it …");
    let seenAt = 0;
    const issuerOf = (s: Stream) => s.acked[s.acked.length - 1]?.issuer;
    await waitFor("every stream ACKs a working certificate of the new intermediate", 10 * 60_000, async () => {
      // serve re-reads the CA state when asked for it (every request after 2 s): ask, as a probe or a scrape would.
      if (!seenAt) {
        const r = await fetch(`http://127.0.0.1:${apiPort}/v1/ca`).then((x) => x.text(), () => "");
        if (r.includes(newFingerprint)) seenAt = Date.now();
      }
      return streams.every((s) => (issuerOf(s) ?? "").includes(newCn)) ? true : undefined;
    });
    const deliveredMs = Math.max(...streams.map((s) => s.acked[s.acked.length - 1]?.at ?? 0)) - rotatedAt;
    await sleep(3000);
    const memAfter = await serveMemory(pid, apiPort);
    const reopened = streams.filter((s) => s.errors > 0 || s.opens > 1).length;
    console.log(`SDS: ${n} identities, one stream each (mTLS, own bootstrap certificate); node ${process.version}${nodeOptions ? `, serve's NODE_OPTIONS=${nodeOptions}` : ""}; load average ${loadAverage()}`);
    printTable(["SDS", "value"], [
      ["first working certificate on every stream, s", sec(firstMs)],
      ["new intermediate written → serve read it, s", seenAt ? sec(seenAt - rotatedAt) : "-"],
      ["new intermediate written → every stream ACKed a certificate from it, s", sec(deliveredMs)],
      ["streams that ended or reopened (task restarts: none are needed)", String(reopened)],
    ]);
    console.log("");
    const memRow = (what: string, m: ServeMemory): string[] => [what, mib(m.rss), mib(m.heapUsed), mib(m.heapTotal), mib(m.external)];
    printTable([`serve's own process (pid ${pid}), 3 s after each step`, "RSS MiB", "heap used MiB", "heap total MiB", "external MiB"], [
      memRow("bootstrap certificates issued, no stream", memIdle),
      memRow(`holding ${n} streams (each with its working certificate)`, memStreams),
      memRow("after the rotation", memAfter),
    ]);
    for (const s of streams) s.close();
    streams.length = 0;
    child.kill("SIGTERM");
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(10_000)]);
    if (withFloor) floor = await floorRun(join(data, "certs"), ids);
    return { reopened, deliveredMs, rssIdle: memIdle.rss ?? NaN, rssStreams: memStreams.rss ?? NaN, floor };
  } finally {
    for (const s of streams) s.close();
    child.kill("SIGTERM");
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(10_000)]);
    kill();
    process.off("exit", kill);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** RSS per connection: serve's (no stream → N streams) beside the bare servers' (no connection → N). */
function printFloor(n: number, r: SdsRun): void {
  const row = (what: string, before: number, holding: number): string[] => [what, mib(before), mib(holding), kib((holding - before) / n)];
  const names: Record<string, string> = { tls: "bare node:tls server", http2: "bare node:http2 server, one stream each", grpc: "bare grpc-js server, one stream each" };
  console.log("");
  printTable([`process holding ${n} mTLS connections (the run's certificates)`, "RSS before MiB", "RSS holding MiB", "KiB per connection"], [
    ...r.floor.map((f) => row(names[f.kind] ?? f.kind, f.rssBefore, f.rssHolding)),
    row("serve, one SDS stream each (with its working certificate)", r.rssIdle, r.rssStreams),
  ]);
}

async function baselineRun(m: number): Promise<{ wallMs: number; restarts: number; failed: number }> {
  const bench = await openFleetBench({ kind: "bsds", labelLetter: "q", services: m, stopGraceSeconds: 1, secretsWithinMs: 30_000, owner: "the benchmark's", removeServicesOnInterrupt: true });
  let out = { wallMs: NaN, restarts: 0, failed: m };
  await bench.withServices(180_000, async () => {
    console.error(`baseline: forced versioned-secret rollout of ${m} services, concurrency 4 …`);
    const r = await bench.rotateAll({ concurrency: 4, force: true });
    const rotated = r.report.outcomes.filter((o) => o.result === "rotated").length;
    out = { wallMs: r.wallMs, restarts: rotated, failed: r.report.outcomes.length - rotated };
  });
  return out;
}

async function main(): Promise<void> {
  const n = positiveInt("--streams", 1000, 20000);
  const m = positiveInt("--services", 20);
  const sds = await sdsRun(n, !process.argv.includes("--no-floor"), arg("--serve-node-options"));
  if (sds.floor.length > 0) printFloor(n, sds);
  const base = process.argv.includes("--no-baseline") ? null : await baselineRun(m);
  console.log("");
  printTable(["forced rotation", "delivered to all, s", "task restarts"], [
    [`SDS push to ${n} identities`, sec(sds.deliveredMs), "0"],
    ...(base ? [[`versioned-secret rollout of ${m} services (baseline)`, sec(base.wallMs), String(base.restarts)]] : []),
  ]);
  if (sds.reopened > 0 || (base && base.failed > 0)) process.exitCode = 1;
}

runMain("bench:sds", main);

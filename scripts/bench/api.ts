/**
 * HTTP API throughput for the two routes that every sidecar and client polls: `GET /v1/bundle.pem` and
 * `GET /v1/envoy/<identity>/bootstrap.yaml`. The API app (fastify, schemas, error handler, request logging at info to
 * /dev/null as `serve` logs) runs in a child process with a control plane that returns a real trust bundle (two roots,
 * as during a CA rotation) and a real Envoy bootstrap from the generator. In the same child, a bare `node:http` server
 * returning the same bytes with the same headers is the baseline. autocannon drives both from this process, so the
 * server and the load generator each have a core. Loopback only; every run is bounded in time.
 *
 * Run: npm run bench:api   (or: npm run build && node dist/scripts/bench/api.js)
 * Options: --seconds <n> per measured run (default 5, at most 60), --rounds <n> alternating baseline/API runs, median
 * shown (default 1), --connections <n> (default 10), --quiet-log (request log at warn: measures the server without
 * its per-request log lines), --json.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import autocannon, { type AutocannonResult } from "autocannon";
import { buildApiApp } from "../../src/api/app.js";
import type { ControlPlane } from "../../src/api/control-plane.js";
import { createMetrics } from "../../src/api/metrics.js";
import { bundlePem, createAuthority } from "../../src/ca/index.js";
import { ENVOY_DEFAULTS, renderEnvoyBootstrapYaml } from "../../src/envoy/index.js";
import { MtlsError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { positiveInt } from "./bench-kit.js";

const IDENTITY = "shop_api";
const TRUST_DOMAIN = "bench.swarm-mtls.local";

/** What the server child reports to the driver. */
interface ServersReady {
  baselinePort: number;
  apiPort: number;
  bundle: string;
  bootstrap: string;
}

async function makePayloads(): Promise<{ bundle: string; bootstrap: string }> {
  const oldCa = await createAuthority({ trustDomain: TRUST_DOMAIN, name: "swarm-mtls old" });
  const newCa = await createAuthority({ trustDomain: TRUST_DOMAIN, name: "swarm-mtls" });
  const bundle = bundlePem(oldCa.authority) + bundlePem(newCa.authority);
  const spiffe = (stack: string, service: string) => `spiffe://${TRUST_DOMAIN}/swarm/${stack}/${service}`;
  const bootstrap = renderEnvoyBootstrapYaml({
    ...ENVOY_DEFAULTS,
    app: { ...ENVOY_DEFAULTS.app },
    files: { ...ENVOY_DEFAULTS.files },
    identity: IDENTITY,
    trustDomain: TRUST_DOMAIN,
    spiffeId: spiffe("shop", "api"),
    allow: [spiffe("shop", "web"), spiffe("shop", "worker")],
    upstreams: [
      { name: "payments", port: 8443, localPort: 9001, spiffeId: spiffe("shop", "payments"), address: "tasks.shop_payments" },
      { name: "db", port: 8443, localPort: 9002, spiffeId: spiffe("shop", "db"), address: "tasks.shop_db" },
    ],
  });
  return { bundle, bootstrap };
}

/** A control plane that serves fixed public data; everything else is "not here" in a benchmark. */
function benchControlPlane(bundle: string, bootstrap: string): ControlPlane {
  const absent = async (): Promise<never> => {
    throw new MtlsError("not-found", "not part of the benchmark");
  };
  return {
    ready: async () => ({ ready: true }),
    bundlePem: async () => bundle,
    caInfo: async () => [],
    listServices: async () => [],
    getService: absent,
    rotate: absent,
    envoyBootstrap: async (identity) => {
      if (identity !== IDENTITY) throw new MtlsError("not-found", `identity ${identity} has no envoy sidecar`);
      return bootstrap;
    },
    signCsr: absent,
  };
}

/** Child process: the baseline and the API, both on 127.0.0.1, until the driver says stop. */
async function serve(logLevel: string): Promise<void> {
  const { bundle, bootstrap } = await makePayloads();
  const baseline = createServer((req, res) => {
    if (req.url === "/v1/bundle.pem") {
      res.writeHead(200, { "content-type": "application/x-pem-file", "cache-control": "no-cache" }).end(bundle);
    } else if (req.url === `/v1/envoy/${IDENTITY}/bootstrap.yaml`) {
      res.writeHead(200, { "content-type": "text/yaml; charset=utf-8", "cache-control": "no-cache" }).end(bootstrap);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => baseline.listen(0, "127.0.0.1", resolve));
  const devNull = pino.destination({ dest: "/dev/null", sync: true }) as unknown as NodeJS.WritableStream;
  const app = await buildApiApp({
    controlPlane: benchControlPlane(bundle, bootstrap),
    metrics: createMetrics(),
    logger: createLogger({ level: logLevel, pretty: false, destination: devNull }),
    adminToken: null,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const ready: ServersReady = {
    baselinePort: (baseline.address() as AddressInfo).port,
    apiPort: (app.server.address() as AddressInfo).port,
    bundle,
    bootstrap,
  };
  process.send?.(ready);
  process.on("message", (m) => {
    if (m === "stop") {
      baseline.close();
      void app.close().then(() => process.exit(0));
    }
  });
  process.on("disconnect", () => process.exit(0));
}

interface Row {
  route: string;
  server: "node:http" | "swarm-mtls";
  bytes: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}

/** The run with the median req/s (its latencies come with it, so a row is one real run, not a blend). */
function medianRow(runs: Row[]): Row {
  const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)] as Row;
}

async function drive(): Promise<void> {
  const seconds = positiveInt("--seconds", 5, 60);
  const connections = positiveInt("--connections", 10, 1000);
  const rounds = positiveInt("--rounds", 1, 10);
  const json = process.argv.includes("--json");
  const load = loadavg()[0] ?? 0;
  const logLevel = process.argv.includes("--quiet-log") ? "warn" : "info";

  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ["--serve", logLevel], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const ready = await new Promise<ServersReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server process did not start within 60 s")), 60_000);
    child.once("message", (m) => {
      clearTimeout(timer);
      resolve(m as ServersReady);
    });
    child.once("exit", (code) => reject(new Error(`the server process exited with code ${code}`)));
  });

  const samples = new Map<string, Row[]>();
  try {
    const routes = [
      { route: "/v1/bundle.pem", body: ready.bundle },
      { route: `/v1/envoy/${IDENTITY}/bootstrap.yaml`, body: ready.bootstrap },
    ];
    const servers = [["node:http", ready.baselinePort], ["swarm-mtls", ready.apiPort]] as const;
    for (const { route, body } of routes) {
      for (const [server, port] of servers) {
        const url = `http://127.0.0.1:${port}${route}`;
        // The body is checked once here, not per request: comparing every reply would load the generator, not the server.
        const check = await fetch(url);
        if (check.status !== 200 || (await check.text()) !== body) throw new Error(`${server} ${route}: wrong reply`);
        await autocannon({ url, connections, duration: 1 }); // warm-up (JIT, connection setup), not reported
      }
    }
    // Baseline and API runs alternate, round after round, so a busy moment of the machine hits both alike.
    for (let round = 0; round < rounds; round++) {
      for (const { route, body } of routes) {
        for (const [server, port] of servers) {
          const r: AutocannonResult = await autocannon({ url: `http://127.0.0.1:${port}${route}`, connections, duration: seconds });
          if (r.non2xx > 0) throw new Error(`${server} ${route}: ${r.non2xx} non-2xx replies`);
          const key = `${route} ${server}`;
          samples.set(key, [...(samples.get(key) ?? []), {
            route, server, bytes: Buffer.byteLength(body),
            requestsPerSecond: Math.round(r.requests.total / r.duration),
            p50Ms: r.latency.p50, p99Ms: r.latency.p99, requests: r.requests.total, errors: r.errors + r.timeouts,
          }]);
        }
      }
    }
  } finally {
    child.send("stop");
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  const rows = [...samples.values()].map(medianRow);
  const setup = { node: process.version, cpus: cpus().length, connections, seconds, rounds, loadAverageAtStart: load, requestLogLevel: logLevel };
  if (json) {
    process.stdout.write(`${JSON.stringify({ setup, rows }, null, 2)}\n`);
    return;
  }
  const lines = [
    `API benchmark: ${seconds} s per run, ${rounds} round(s) (median shown), ${connections} connections, ${setup.cpus} CPUs, ` +
      `Node ${setup.node}; request log level ${logLevel} (to /dev/null); loopback`,
    ...(load > setup.cpus / 2
      ? [`warning: load average ${load.toFixed(1)} at start on ${setup.cpus} CPUs: the machine is busy and the figures are noisy${rounds < 3 ? "; try --rounds 3" : ""}`]
      : []),
    "",
    `${"route".padEnd(40)} ${"server".padEnd(11)} ${"bytes".padStart(6)} ${"req/s".padStart(8)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)}  vs baseline`,
  ];
  for (const row of rows) {
    const base = rows.find((b) => b.route === row.route && b.server === "node:http");
    const ratio = row.server === "node:http" || !base ? "" : `${Math.round((100 * row.requestsPerSecond) / base.requestsPerSecond)}%`;
    lines.push(
      `${row.route.padEnd(40)} ${row.server.padEnd(11)} ${String(row.bytes).padStart(6)} ${String(row.requestsPerSecond).padStart(8)} ` +
        `${String(row.p50Ms).padStart(7)} ${String(row.p99Ms).padStart(7)}  ${ratio}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

if (process.argv[2] === "--serve") {
  await serve(process.argv[3] ?? "info");
} else {
  await drive();
}

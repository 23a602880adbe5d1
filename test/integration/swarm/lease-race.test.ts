/**
 * The rotation lease on the real swarm, between processes: rotators racing for it for a minute and a half (holding it
 * across renewals, releasing it, or crashing while holding it and being taken over) never act at the same moment;
 * and a holder whose renewals the engine refuses stops before its lease could be taken over, after which another
 * rotator takes it over.
 */
import "reflect-metadata";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import t from "tap";
import { systemClock } from "../../../src/clock.js";
import { connectSwarm } from "../../../src/swarm/docker-client.js";
import { acquireLease, LEASE_OWNER_LABEL, readLease } from "../../../src/swarm/lease.js";
import { startDockerFaultProxy } from "../../helpers/docker-fault-proxy.js";
import { REPO } from "../../helpers/cli.js";
import { docker, requireSwarm, uniquePrefix } from "../../fixtures/swarm/sandbox.js";

const swarm = await requireSwarm();
const prefix = uniquePrefix();
t.teardown(async () => {
  for (const n of (await docker("config", "ls", "--format", "{{.Name}}")).split("\n")) if (n.startsWith(prefix)) await docker("config", "rm", n).catch(() => undefined);
});

interface RacerCounts {
  owner: string;
  acquired: number;
  acts: number;
  overlaps: number;
  lost: number;
  crashed: boolean;
}

function racer(args: string[]): Promise<RacerCounts> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, "test/integration/swarm/fixtures/lease-racer.mjs"), ...args], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0 || !line.startsWith("{")) reject(new Error(`racer exited ${code}: ${err}`));
      else resolve(JSON.parse(line) as RacerCounts);
    });
  });
}

t.test("rotators racing for the lease for 90 s never act at the same moment", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "lease-race-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const name = `${prefix}.race`;
  const endAt = Date.now() + 90_000;
  const cs = join(dir, "acting");
  // Two slots, each running racers one after another: a racer that crashed is replaced by a new process.
  const slot = async (id: string): Promise<RacerCounts[]> => {
    const all: RacerCounts[] = [];
    for (let i = 0; Date.now() < endAt; i++) all.push(await racer([name, `${id}-${i}`, String(endAt), cs, "3", "0.25"]));
    return all;
  };
  const results = (await Promise.all([slot("a"), slot("b"), slot("c")])).flat();
  const sum = (k: "acquired" | "acts" | "overlaps" | "lost") => results.reduce((n, r) => n + r[k], 0);
  t.comment(`${results.length} racer processes, ${sum("acquired")} acquisitions, ${sum("acts")} acts, ${results.filter((r) => r.crashed).length} crashes while holding, ${sum("lost")} leases lost`);
  t.equal(sum("overlaps"), 0, "no two rotators ever acted at the same moment");
  t.ok(new Set(results.filter((r) => r.acquired > 0).map((r) => r.owner[0])).size >= 2, "the lease changed hands between slots");
  t.ok(results.some((r) => r.crashed), "some holders crashed and were taken over");
});

t.test("a holder whose renewals fail stops before its lease expires; then it is taken over", async (t) => {
  const proxy = await startDockerFaultProxy();
  t.teardown(() => proxy.close());
  const viaProxy = connectSwarm({ host: proxy.dockerHost, timeoutMs: 20_000 });
  const name = `${prefix}.fail`;
  const ttlMs = 4000;
  const sent = performance.now();
  const holder = await acquireLease(viaProxy, { name, owner: "holder", ttlSeconds: ttlMs / 1000, now: systemClock });
  t.ok(holder, "the holder takes the lease");
  proxy.rules.push({ method: "POST", path: /\/configs\/[^/]+\/update/, fault: "server-error" });
  const busy = setInterval(() => undefined, 100);
  const stoppedAt = await new Promise<number>((resolve) => holder!.signal.addEventListener("abort", () => resolve(performance.now()), { once: true }));
  clearInterval(busy);
  t.ok(proxy.hits.length >= 1, `renewals were tried and refused (${proxy.hits.length})`);
  t.match(holder!.signal.reason, { code: "lease-held", message: /could not be renewed|expired/ }, "the signal says why");
  t.ok(stoppedAt < sent + ttlMs, "the holder stopped before its TTL had passed on its own clock");
  t.equal((await readLease(swarm, { name, now: systemClock }))?.owner, "holder", "its lease is still there, unrenewed");

  t.equal(await acquireLease(swarm, { name, owner: "rival", ttlSeconds: 4, takeoverWaitMs: 0, now: systemClock }), null, "a rival is refused at first");
  const rival = await acquireLease(swarm, { name, owner: "rival", ttlSeconds: 4, takeoverWaitMs: 10_000, now: systemClock });
  t.equal(rival?.owner, "rival", "after watching it unchanged for a TTL, the rival takes it over");
  t.equal((await docker("config", "inspect", "--format", `{{index .Spec.Labels "${LEASE_OWNER_LABEL}"}}`, name)).trim(), "rival");
  await rival?.release();
  await holder?.release();
  t.equal(await readLease(swarm, { name, now: systemClock }), null, "released");
});

/**
 * High availability on a real 3-manager swarm (scripts/swarm-sandbox.sh up --managers 3: three engines on this
 * machine, each in namespaces of its own). The CA is config/swarm-mtls.stack.yml as operators deploy it; the kills
 * are real: every process of a node (engine, containerd, containers) gets SIGKILL.
 *
 *   1. The manager running the CA dies in the middle of a forced rotation of six services. Swarm reschedules the CA
 *      on another manager; its API answers there; it takes the dead task's lease over once that expires and
 *      reconciles. Afterwards every service runs a valid certificate of this CA, none was rotated twice from one
 *      generation (at most v2 after one forced rotation from v1), no generation newer than the attached one is left
 *      (no orphan secrets) and at most one previous generation is kept. The time from the kill to the API answering
 *      and to the first successful reconcile is printed (no threshold: README, HA and failure modes).
 *   2. Quorum lost: the two managers not running the CA are killed. `serve` reports not ready (503 with a reason),
 *      refuses an admin rotation without changing anything, and keeps running (same container, no restart). When
 *      the managers come back it is ready again and a forced rotation goes through.
 *   3. Partition: the link of the manager running the CA (the lease holder) goes down in the middle of a forced
 *      rotation; the two others keep quorum and Swarm starts the CA there. What an operator sees: the cut-off CA
 *      stops holding the lease before its deadline (its calls fail, its rollouts fail, it logs that the lease
 *      "expires by itself"; or, were its work still running, "lease lost; stopping" at the deadline) and rotates
 *      nothing after it; the CA on the majority side
 *      takes the lease over (after watching it unchanged for a whole TTL) and reconciles; once the link is back, the
 *      swarm is whole, one CA runs, and nothing was done twice (each service moved at most one generation, no two
 *      rotations of one service from one generation in the two CAs' audit lines, no orphan generation, every task
 *      holds a valid certificate). The cut manager is a Raft follower (the CA is moved off the leader first when it
 *      runs there): see ARCHITECTURE, "The partition test cuts a follower".
 *   4. SDS across a failover: an SDS-mode service runs off the CA's manager; an Envoy-like SDS client (every node's
 *      SDS address, round robin on reconnect, HTTP/2 keepalive as the generated bootstrap sets it) streams its
 *      working certificate with the task's bootstrap files. The CA's manager is killed: the client reconnects to the
 *      CA Swarm starts on another manager and gets a fresh working certificate that verifies with OpenSSL against
 *      the pushed bundle; the service keeps its task and its bootstrap secrets.
 *
 * The steps depend on each other (one swarm, one CA), so they run in order in this one file.
 */
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { streamSecrets } from "../helpers/sds-client.js";
import { until } from "../helpers/swarm-test.js";
import { API_PORT, SDS_PORT, engineGet, generationOf, HA_DIR, HaWorld, hasQuorum, NODES, nodeIp, requireHaSwarm, sandbox, swarmWhole, type LogEntry, type NodeIndex } from "./fixtures/ha-world.js";

await requireHaSwarm();
const w = new HaWorld();
const WORKLOADS = 6;

t.teardown(async () => {
  // Nodes a failed step left dead come back first, so that the swarm is whole for the next run.
  for (const n of [...w.down]) await sandbox("start-node", String(n)).then(() => w.down.delete(n)).catch(() => undefined);
  await w.cleanup();
});

await t.test("the sandbox finds each node's processes (what kill-node kills): its engine, not this test", async (t) => {
  for (const n of NODES) {
    const launcher = readFileSync(join(HA_DIR, `m${n}`, "launcher.pid"), "utf8").trim();
    const pids = (await sandbox("node-pids", String(n))).split("\n").map((l) => l.trim()).filter(Boolean);
    t.ok(pids.includes(launcher), `node-pids ${n} lists m${n}'s engine (pid ${launcher})`);
    t.notOk(pids.includes(String(process.pid)), `and not this test's own process`);
  }
});

await t.test("setup: the production CA stack and six opted-in services on generation 1", async (t) => {
  await w.wipeLeftovers();
  await w.images();
  await w.initCa();
  await w.deployCa();
  for (let i = 1; i <= WORKLOADS; i++) await w.createWorkload(`${w.stack}-w${i}`, 2);
  const ca = await w.caNode();
  const ready = await until(`the CA's /readyz on m${ca.node}`, 300_000, async () => {
    const r = await w.api(ca.node, "GET", "/readyz");
    return r.status === 200 ? r.json : undefined;
  }, 1000);
  t.same(ready, { ready: true }, `the CA answers on m${ca.node} (${nodeIp(ca.node)}:${API_PORT}), verified against its root`);
  for (const s of w.workloads) {
    const gen = await until(`${s} at rest on its first certificate`, 600_000, () => w.settled(s), 1000);
    t.equal(gen, 1, `${s} runs generation 1`);
  }
});

await t.test("the CA's manager dies mid-rollout: the CA moves, takes the lease over and finishes", async (t) => {
  const ca = await w.caNode();
  t.comment(`CA on m${ca.node}; forced rotation of ${WORKLOADS} services through its API`);
  // Fire and forget: the answer never comes (its server dies).
  void w.api(ca.node, "POST", "/v1/rotate", { force: true }, 600_000).catch(() => undefined);
  // Kill once a rollout is really in flight: a service's spec references generation 2 and Docker is replacing tasks.
  await until("a rollout to generation 2 in flight", 300_000, async () => {
    for (const s of w.workloads) if ((await w.attached(s)) === 2 && (await w.updating(s))) return true;
    return undefined;
  }, 200);
  const killedAt = Date.now();
  await sandbox("kill-node", String(ca.node));
  w.down.add(ca.node);
  t.comment(`killed m${ca.node} (engine, containerd, containers) at ${new Date(killedAt).toISOString()}`);

  // The API is probed on the surviving managers straight away (not after the docker CLI found the new task): the
  // time it first answers is when it answers.
  const survivors = NODES.filter((n) => n !== ca.node);
  const api = await until("the API answering on a surviving manager", 600_000, async () => {
    const answers = await Promise.all(survivors.map((n) => w.api(n, "GET", "/healthz", undefined, 3000).then((r) => (r.status === 200 ? n : null), () => null)));
    const n = answers.find((x) => x !== null);
    return n ? { node: n, at: Date.now() } : undefined;
  }, 500);
  const moved = await w.caNode(600_000);
  t.not(moved.node, ca.node, `the CA task runs on another manager (m${moved.node})`);
  t.equal(api.node, moved.node, `the API answers on that manager (${nodeIp(moved.node)}:${API_PORT})`);
  const reconciledAt = await until(`a successful reconcile by the moved CA`, 600_000, async () => {
    const ts = await w.lastReconcile(moved.node);
    return ts * 1000 > killedAt ? ts * 1000 : undefined;
  }, 500);
  const rescheduledAt = Date.parse((await w.docker("inspect", "--type", "task", "--format", "{{.CreatedAt}}", moved.task)).trim().replace(/ \+0000 UTC$/, "Z").replace(" ", "T"));
  const after = (at: number): string => `${((at - killedAt) / 1000).toFixed(1)} s`;
  t.comment(`failover after the kill: Swarm created the new CA task ${after(rescheduledAt)}, the API answered ${after(api.at)}, first successful reconcile ${after(reconciledAt)}`);
  t.pass(`failover measured: task rescheduled ${after(rescheduledAt)}, API ${after(api.at)}, reconcile ${after(reconciledAt)}`);

  // While the dead node is away: every service runs as many tasks as it wants, each with a valid certificate.
  for (const s of w.workloads) {
    const certs = await until(`${s} running all its replicas elsewhere`, 600_000, () => w.servedCertificates(s), 1000);
    const bad = certs.filter((c) => c.problem !== null);
    t.same(bad.map((c) => c.problem), [], `${s}: each of its ${certs.length} running tasks holds a valid certificate of this CA (generations ${[...new Set(certs.map((c) => c.generation))].join(",")})`);
  }
  t.same((await w.api(moved.node, "GET", "/readyz")).json, { ready: true }, "the moved CA is ready");

  // An update whose new task Swarm had placed on the dead node stays "updating" until that node reports again (a
  // Swarm behaviour): the node comes back, as an operator would bring it, and every rollout then completes or is
  // rolled back by Docker (the CA then attaches the new generation again, without issuing).
  await sandbox("start-node", String(ca.node));
  w.down.delete(ca.node);
  t.ok(await hasQuorum(ca.node), `m${ca.node} rejoined as a manager`);
  for (const s of w.workloads) {
    const gen = await until(`${s} at rest after the failover`, 600_000, () => w.settled(s), 1000);
    const gens = [...new Set((await w.secretsOf(s)).map((x) => generationOf(x.Spec.Name)))].sort((a, b) => a - b);
    t.ok(gen === 1 || gen === 2, `${s} runs generation ${gen}: never rotated twice from one generation`);
    t.equal(Math.max(...gens), gen, `${s}: no generation newer than the attached one is left (${gens.join(",")})`);
    t.ok(gens.every((g) => g === gen || g === gen - 1), `${s}: at most the previous generation is kept besides it (${gens.join(",")})`);
    const certs = await w.servedCertificates(s);
    t.same(certs?.map((c) => c.problem ?? c.generation), certs?.map(() => gen), `${s}: every task holds generation ${gen}'s valid certificate`);
  }
});

await t.test("quorum lost (2 of 3 managers killed): not ready, changes nothing, no restart; carries on after", async (t) => {
  const ca = await w.caNode();
  const others = NODES.filter((n) => n !== ca.node);
  // Nothing moves before the kill: every service at rest, so that the objects compared below are stable.
  for (const s of w.workloads) await until(`${s} at rest`, 600_000, () => w.settled(s), 1000);
  const before = await w.objects();
  t.comment(`CA on m${ca.node} (container ${ca.container.slice(0, 12)}); killing ${others.map((n) => `m${n}`).join(" and ")}`);
  for (const n of others) {
    await sandbox("kill-node", String(n));
    w.down.add(n);
  }
  // The survivor notices within Raft's election timeout that it has no leader.
  t.ok(await until(`m${ca.node} losing quorum`, 300_000, async () => ((await hasQuorum(ca.node)) ? undefined : true), 2000), `m${ca.node} has no quorum`);

  const notReady = await until("/readyz reporting not ready", 300_000, async () => {
    const r = await w.api(ca.node, "GET", "/readyz", undefined, 120_000);
    return r.status === 503 ? r.json : undefined;
  }, 2000);
  t.equal(notReady.ready, false, `serve reports not ready: ${notReady.reason}`);
  t.ok(typeof notReady.reason === "string" && notReady.reason.length > 0, "with a reason");
  t.equal((await w.api(ca.node, "GET", "/healthz")).status, 200, "it is alive (liveness stays 200: no restart is wanted)");
  const refused = await w.api(ca.node, "POST", "/v1/rotate", { force: true }, 600_000);
  t.ok(refused.status >= 400, `an admin rotation is refused while quorum is lost (HTTP ${refused.status})`);
  // Well past the healthcheck's window (4 x 15 s): a crash or a failed probe would have replaced the container.
  await new Promise((r) => setTimeout(r, 75_000));
  const running = (await w.docker("ps", "-q", "--no-trunc", "--filter", `id=${ca.container}`, "--filter", "status=running")).trim();
  t.equal(running, ca.container, "the CA container is the same one, still running (no crash loop)");

  for (const n of others) {
    await sandbox("start-node", String(n));
    w.down.delete(n);
  }
  await until(`quorum back on m${ca.node}`, 300_000, async () => ((await hasQuorum(ca.node)) ? true : undefined), 1000);
  const ready = await until("/readyz ready again", 300_000, async () => {
    const r = await w.api(ca.node, "GET", "/readyz", undefined, 120_000);
    return r.status === 200 ? r.json : undefined;
  }, 2000);
  t.same(ready, { ready: true }, "ready again once the managers are back");
  t.same(await w.objects(), before, "no secret or config was created or removed while quorum was lost");
  const again = await w.caNode();
  t.equal(again.container, ca.container, "the same CA container carried on");

  const target = w.workloads[0] as string;
  const genBefore = (await w.attached(target)) as number;
  const rotated = await until(`a forced rotation of ${target} through the API`, 600_000, async () => {
    const r = await w.api(ca.node, "POST", `/v1/services/${target}/rotate`, { force: true }, 600_000);
    return r.status === 409 ? undefined : r; // a reconcile of its own may hold the lease for a moment
  }, 2000);
  t.equal(rotated.status, 200, `the rotation goes through (${rotated.text.slice(0, 200)})`);
  const genAfter = await until(`${target} at rest on a new generation`, 600_000, async () => {
    const g = await w.settled(target);
    return g !== undefined && g > genBefore ? g : undefined;
  }, 1000);
  t.equal(genAfter, genBefore + 1, `${target} moved from generation ${genBefore} to ${genAfter}`);
  const certs = await w.servedCertificates(target);
  t.same(certs?.map((c) => c.problem ?? c.generation), certs?.map(() => genAfter), `${target}: its tasks hold the new generation's valid certificate`);
});

/** until(), and when it gives up, what Docker says of the managers (each engine's view) and of the CA's tasks. */
async function within<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs: number): Promise<T> {
  try {
    return await until(what, timeoutMs, probe, intervalMs);
  } catch (e) {
    const managers = await swarmWhole().then((v) => v.said, (x: Error) => x.message);
    throw new Error(`${(e as Error).message}; managers: ${managers}; CA tasks: ${await w.caTasks()}`);
  }
}

/**
 * Waits for the swarm to be whole (every engine sees three managers ready and reachable and the same leader) on
 * three polls in a row, 3 s apart: Raft has settled, not just answered once. Returns the leader.
 */
async function wholeSwarm(what: string): Promise<NodeIndex> {
  let streak = 0;
  let said = "";
  try {
    return await until(what, 300_000, async () => {
      const v = await swarmWhole();
      said = v.said;
      streak = v.whole ? streak + 1 : 0;
      return streak >= 3 && v.leader !== null ? v.leader : undefined;
    }, 3000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; Docker: ${said}`);
  }
}

interface LeaseConfig {
  Version: { Index: number };
  Spec: { Labels?: Record<string, string> };
}
interface LeaseSeen {
  at: number;
  version: number;
  token: string;
  owner: string;
  free: boolean;
}
const leaseSeen = (c: LeaseConfig, at: number): LeaseSeen => {
  const l = c.Spec.Labels ?? {};
  const owner = l["io.swarm-mtls.lease.owner"] ?? "";
  return { at, version: c.Version.Index, token: l["io.swarm-mtls.lease.token"] ?? "", owner, free: l["io.swarm-mtls.lease.state"] === "free" || owner === "" };
};
const readLeaseOn = async (n: NodeIndex): Promise<LeaseSeen> => leaseSeen(await engineGet<LeaseConfig>(n, `/configs/${encodeURIComponent(w.lease)}`, 20_000), Date.now());

/** Polls the lease config on node n (Engine API, every 0.5 s) until stopped: every version seen, when first seen. */
function watchLease(n: NodeIndex): { seen: LeaseSeen[]; stop: () => Promise<void> } {
  const seen: LeaseSeen[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const c = await readLeaseOn(n).catch(() => undefined);
      if (c && seen.at(-1)?.version !== c.version) seen.push(c);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return { seen, stop: async () => { running = false; await loop; } };
}

interface ServiceView {
  Spec: { Name: string; TaskTemplate: { ContainerSpec: { Secrets?: { SecretName: string }[] } } };
  UpdateStatus?: { State?: string };
}
/** A workload whose spec already references the next generation while Docker is replacing its tasks (one API call). */
async function rolloutInFlight(n: NodeIndex, before: Map<string, number>): Promise<string | undefined> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${w.prefix}enable=true`] }));
  for (const s of await engineGet<ServiceView[]>(n, `/services?filters=${filters}`)) {
    const from = before.get(s.Spec.Name);
    const gens = (s.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).map((r) => /\.crt\.v(\d+)$/.exec(r.SecretName)?.[1]).filter((g) => g !== undefined).map(Number);
    const st = s.UpdateStatus?.State;
    if (from !== undefined && gens.includes(from + 1) && (st === "updating" || st === "rollback_started")) return s.Spec.Name;
  }
  return undefined;
}

const rotations = (log: LogEntry[]): LogEntry[] => log.filter((e) => e.audit === true && e.event === "rotate" && e.result === "ok");

await t.test("partition: the CA's manager is cut off mid-rollout; it stops holding the lease before its deadline, the majority's CA takes the lease over, nothing is done twice", async (t) => {
  let leader = await wholeSwarm("a whole swarm before the cut (3 managers ready and reachable, one leader)");
  for (const s of w.workloads) await within(`${s} at rest`, 600_000, () => w.settled(s), 2000);
  let ca = await w.caNode();
  // The cut leaves the leader with the majority: a cut leader adds an election and moves every agent's session,
  // which on a loaded 2-core machine once left Swarm without a working leader for minutes (Swarm, not the CA).
  for (let moves = 0, constraint = ""; ca.node === leader; moves++) {
    if (moves === 2) throw new Error(`the CA keeps landing on the Raft leader m${leader}; managers: ${(await swarmWhole()).said}`);
    const args = ["service", "update", "--detach", "--constraint-add", `node.hostname!=m${leader}`];
    if (constraint) args.push("--constraint-rm", constraint);
    t.comment(`the CA runs on the Raft leader m${leader}: moved off it (${args.slice(3).join(" ")})`);
    await w.docker(...args, w.caService);
    constraint = `node.hostname!=m${leader}`;
    const from = leader;
    ca = await within(`the CA running off m${from}`, 600_000, async () => {
      const c = await w.caNode(10_000);
      return c.node !== from ? c : undefined;
    }, 2000);
    leader = await wholeSwarm("a whole swarm after moving the CA");
  }
  const caAt = ca;
  await within(`the CA's /readyz on m${caAt.node}`, 300_000, async () => ((await w.api(caAt.node, "GET", "/readyz", undefined, 20_000)).status === 200 ? true : undefined), 2000);
  const before = new Map<string, number>();
  for (const s of w.workloads) before.set(s, await within(`${s} at rest`, 600_000, () => w.settled(s), 2000));
  t.comment(`CA on m${ca.node} (container ${ca.container.slice(0, 12)}), Raft leader m${leader}; forced rotation, then m${ca.node}'s link goes down`);

  const lease = watchLease(leader);
  t.teardown(() => lease.stop());
  const askedAt = Date.now();
  // Fire and forget: its answer may never come (its server is cut off).
  void w.api(ca.node, "POST", "/v1/rotate", { force: true }, 120_000).catch(() => undefined);
  const inFlight = await within("a rollout to a new generation in flight", 300_000, () => rolloutInFlight(leader, before), 500);
  const held = await readLeaseOn(leader);
  t.ok(!held.free && held.owner.startsWith(ca.container.slice(0, 12)), `the CA on m${ca.node} holds the lease (${held.owner || "free"}) while ${inFlight} rolls out`);
  const cutAt = Date.now();
  await sandbox("link-down", String(ca.node));
  w.down.add(ca.node);
  const after = (at: number): string => `${((at - cutAt) / 1000).toFixed(1)} s`;

  const moved = await within("Swarm running the CA on the majority side", 600_000, async () => {
    const c = await w.caNode(10_000);
    return c.node !== ca.node ? c : undefined;
  }, 2000);
  t.not(moved.node, ca.node, `Swarm runs the CA on m${moved.node}, with the majority`);
  const reconciledAt = await within(`a successful reconcile by the CA on m${moved.node}`, 600_000, async () => {
    const ts = await w.lastReconcile(moved.node).catch(() => 0);
    return ts * 1000 > cutAt ? ts * 1000 : undefined;
  }, 1000);
  const takeover = await within("the lease watch seeing it change hands", 60_000, async () => lease.seen.find((x) => x.at > cutAt && x.token !== held.token), 500);
  t.ok(takeover.free || takeover.owner.startsWith(moved.container.slice(0, 12)), `the CA on m${moved.node} took the lease over (${takeover.owner || "taken and released"}, seen ${after(takeover.at)} after the cut)`);

  // The cut-off CA's own account, read on its node while the link is still down (its engine answers locally).
  const cutLog = (await w.caLog(ca.node, ca.container)).filter((e) => e.time >= askedAt);
  // It stops holding the lease one of two ways: its deadline passes while it still works ("lease lost; stopping",
  // the work aborted), or its work ends first (a cut-off manager fails its calls: the rollouts fail) and it lets the
  // lease go, which it cannot write from there ("could not release the lease; it expires by itself").
  const stopped = new Set(["lease lost; stopping", "could not release the lease; it expires by itself"]);
  const lost = cutLog.find((e) => e.time > cutAt && stopped.has(e.msg));
  const told = cutLog.filter((e) => e.time > cutAt).map((e) => `${after(e.time)} ${e.msg} ${e.reason ?? e.err ?? ""}`.trim());
  t.ok(lost, `the cut-off CA stopped holding the lease: "${lost?.msg ?? `not found; after the cut it logged: ${told.join(" | ").slice(0, 2000)}`}"`);
  t.ok(lost !== undefined && lost.time < takeover.at, `it stopped ${lost ? after(lost.time) : "(never)"} after the cut, before the lease changed hands (${after(takeover.at)})`);
  const late = rotations(cutLog).filter((e) => e.time > (lost?.time ?? cutAt));
  t.same(late.map((e) => e.service), [], "the cut-off CA rotated nothing after it stopped");
  const rescheduledAt = Date.parse((await w.docker("inspect", "--type", "task", "--format", "{{.CreatedAt}}", moved.task)).trim().replace(/ \+0000 UTC$/, "Z").replace(" ", "T"));
  t.comment(`partition: the cut-off CA stopped ${lost ? after(lost.time) : "?"}, Swarm created the new CA task ${after(rescheduledAt)}, the lease changed hands ${after(takeover.at)}, first reconcile on the majority side ${after(reconciledAt)} after the cut`);
  t.pass(`partition measured: holder stopped ${lost ? after(lost.time) : "?"}, task rescheduled ${after(rescheduledAt)}, lease taken over ${after(takeover.at)}, reconcile ${after(reconciledAt)}`);

  await sandbox("link-up", String(ca.node));
  w.down.delete(ca.node);
  await wholeSwarm(`the swarm whole again after m${ca.node}'s link came back`);
  const one = await within("one CA task running", 300_000, async () => {
    const c = await w.caNode(10_000);
    // The cut-off CA's container is on its own node: that engine says whether it still runs.
    const oldRunning = await engineGet<unknown[]>(ca.node, `/containers/json?filters=${encodeURIComponent(JSON.stringify({ id: [ca.container], status: ["running"] }))}`);
    return oldRunning.length === 0 ? c : undefined;
  }, 2000);
  t.equal(one.container, moved.container, `one CA runs (on m${one.node}); the cut-off one has stopped`);
  t.same((await w.api(one.node, "GET", "/readyz", undefined, 20_000)).json, { ready: true }, "and it is ready");

  for (const s of w.workloads) {
    const from = before.get(s) as number;
    const gen = await within(`${s} at rest after the partition`, 600_000, () => w.settled(s), 2000);
    const gens = [...new Set((await w.secretsOf(s)).map((x) => generationOf(x.Spec.Name)))].sort((a, b) => a - b);
    t.ok(gen === from || gen === from + 1, `${s} runs generation ${gen} (was ${from}): never rotated twice from one generation`);
    t.equal(Math.max(...gens), gen, `${s}: no generation newer than the attached one is left (${gens.join(",")})`);
    const certs = await w.servedCertificates(s);
    t.same(certs?.map((c) => c.problem ?? c.generation), certs?.map(() => gen), `${s}: every task holds generation ${gen}'s valid certificate`);
  }
  // The audit trail of both CAs (the cut-off one read again if its container is still there): one rotation per
  // service and generation at most.
  const cutAll = await w.caLog(ca.node, ca.container).then((l) => l.filter((e) => e.time >= askedAt), () => cutLog);
  const audit = [...rotations(cutAll), ...rotations(await w.caLog(moved.node, moved.container))].filter((e) => e.time >= askedAt);
  const twice = audit.filter((e, i) => audit.findIndex((x) => x.service === e.service && x.generation?.from === e.generation?.from) !== i);
  t.same(twice.map((e) => `${e.service} from v${e.generation?.from}`), [], `no service rotated twice from one generation in the two CAs' audit lines (${audit.length} rotations: ${audit.map((e) => `${e.service} v${e.generation?.from}->v${e.generation?.to}`).join(", ")})`);
  const now = await readLeaseOn(one.node);
  t.ok(now.free || now.owner.startsWith(one.container.slice(0, 12)), `the lease is free or held by the running CA (${now.owner || "free"}), never by the cut-off one`);
});

/** `openssl verify` of a pushed working chain against the bundle pushed with it ("OK" or OpenSSL's words). */
function opensslVerify(bundle: string, chain: string): string {
  const leaf = new X509Certificate(chain).toString();
  const file = (name: string, text: string): string => {
    writeFileSync(join(w.dir, name), text);
    return join(w.dir, name);
  };
  const r = spawnSync("openssl", ["verify", "-CAfile", file("sds-bundle.pem", bundle), "-untrusted", file("sds-chain.pem", chain), file("sds-leaf.pem", leaf)], { encoding: "utf8" });
  return r.status === 0 ? "OK" : `${r.stdout}${r.stderr}`.trim();
}

await t.test("SDS across a failover: the CA's manager dies; an Envoy-like client reconnects to the rescheduled CA and gets a valid certificate; no task restarts", async (t) => {
  await wholeSwarm("a whole swarm before the SDS step");
  const ca = await w.caNode();
  const name = `${w.stack}-sds`;
  await w.createSdsWorkload(name, ca.node);
  const boot = await within(`${name}'s task with its bootstrap files`, 300_000, () => w.bootstrapFiles(name), 2000);
  const tasksBefore = (await w.tasks(name)).map((x) => x.id);
  const bootstrapBefore = await w.attached(name);
  const spiffeId = /URI:(spiffe:\/\/[^,\s]+)/.exec(new X509Certificate(boot.cert).subjectAltName ?? "")?.[1] ?? "";
  const bundleName = "spiffe://ha.test";
  // Envoy's SDS cluster in the generated bootstrap: every CA address (here each node's host-mode SDS port, as
  // tasks.<stack>_ca would resolve to the node running it), round robin on reconnect, HTTP/2 keepalive 30 s / 10 s.
  const endpoints = NODES.map((n) => `${nodeIp(n)}:${SDS_PORT}`);
  const pushes: { serial: string; verify: string }[] = [];
  const stream = streamSecrets(endpoints, boot, [spiffeId, bundleName], {
    reconnect: true,
    keepalive: true,
    judge: (r) => {
      const chain = r.resources.find((x) => x.name === spiffeId)?.tls_certificate?.certificate_chain.inline_bytes.toString();
      const bundle = r.resources.find((x) => x.name === bundleName)?.validation_context?.trusted_ca.inline_bytes.toString();
      if (!chain || !bundle) return "missing a secret";
      const verify = opensslVerify(bundle, chain);
      pushes.push({ serial: new X509Certificate(chain).serialNumber, verify });
      return verify === "OK" ? null : `does not verify: ${verify}`;
    },
  });
  t.teardown(() => stream.close());
  await within(`a first working certificate from the CA on m${ca.node}`, 300_000, async () => (stream.accepted.length >= 1 ? true : undefined), 1000);
  const first = stream.accepted.length;
  t.equal(stream.accepted[0]?.from, `${nodeIp(ca.node)}:${SDS_PORT}`, `the first stream is served by the CA on m${ca.node}`);

  const killedAt = Date.now();
  const after = (at: number): string => `${((at - killedAt) / 1000).toFixed(1)} s`;
  t.comment(`killing m${ca.node}, which runs the CA; ${name} runs on m${(await w.tasks(name))[0]?.node}`);
  await sandbox("kill-node", String(ca.node));
  w.down.add(ca.node);
  const moved = await within("Swarm running the CA on another manager", 600_000, async () => {
    const c = await w.caNode(10_000);
    return c.node !== ca.node ? c : undefined;
  }, 2000);
  const next = await within(`a working certificate from the CA on m${moved.node}`, 600_000, async () => stream.accepted.slice(first).at(0), 1000).catch((e: Error) => {
    throw new Error(`${e.message} (streams opened: ${stream.endpoints.join(", ")}; errors: ${JSON.stringify(stream.errors.slice(-4))})`);
  });
  t.equal(next.from, `${nodeIp(moved.node)}:${SDS_PORT}`, `it came over a new stream to the rescheduled CA on m${moved.node}`);
  const pushed = pushes.at(-1);
  t.equal(pushed?.verify, "OK", "it verifies with OpenSSL against the bundle pushed with it");
  t.not(pushed?.serial, pushes[0]?.serial, "a fresh working certificate, issued by the rescheduled CA");
  t.same(pushes.filter((p) => p.verify !== "OK").map((p) => p.verify), [], "every pushed certificate verified");
  t.ok(stream.opens >= 2, `the client reconnected (${stream.opens} streams opened: ${stream.endpoints.join(", ")})`);
  t.same((await w.tasks(name)).map((x) => x.id), tasksBefore, `${name} kept its task: no restart`);
  t.equal(await w.attached(name), bootstrapBefore, `${name}'s bootstrap secrets were not replaced (generation ${bootstrapBefore})`);
  t.comment(`SDS failover: the CA task rescheduled on m${moved.node}, and the client's first certificate from it ${after(next.at)} after the kill (${stream.opens} streams opened)`);
  t.pass(`SDS failover measured: first working certificate from the rescheduled CA ${after(next.at)} after the kill`);

  await sandbox("start-node", String(ca.node));
  w.down.delete(ca.node);
  await wholeSwarm(`the swarm whole again after m${ca.node} came back`);
});

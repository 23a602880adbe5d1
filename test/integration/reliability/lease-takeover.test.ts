/**
 * A `serve` killed (SIGKILL) in the middle of a rotation leaves the rotation lease behind: the other `serve` is
 * refused while the dead holder's lease lives, takes it over once its TTL has passed (SWARM_MTLS_ROTATION_LEASE_TTL,
 * short here), and finishes the work: the service ends on one complete generation, at most one previous kept.
 * (Separate from lease-contention.test.ts so that the runner runs the two side by side.)
 */
import "reflect-metadata";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { keyMaterialIn } from "../../helpers/cli.js";
import { spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { until } from "../../helpers/swarm-test.js";
import { docker, freePort, inspectService, requireSwarm, RotationWorld, runningContainer, secretsOf } from "../rotation/fixtures/rotation-world.js";

t.before(requireSwarm);

const LEASE_TTL_SECONDS = 15;
const generationOf = (name: string): number => Number(/\.v(\d+)$/.exec(name)?.[1]);

interface Serve {
  name: string;
  port: number;
  proc: ServeProcess;
}

t.test("a serve killed while holding the lease is taken over by the other serve after the lease TTL", async (t) => {
  const w = new RotationWorld();
  const dir = mkdtempSync(join(tmpdir(), "lease-takeover-"));
  const token = randomBytes(24).toString("hex");
  writeFileSync(join(dir, "admin-token"), `${token}\n`, { mode: 0o600 });
  const lease = w.env.SWARM_MTLS_ROTATION_LEASE_NAME as string;
  const svc = w.name("take");
  // A monitor window keeps the rollout (and so the lease) busy for a few seconds: time to kill its holder.
  await w.createService(svc, { args: ["--update-monitor", "5s"] });
  // Generous waits: other suites share the engine, and a task may take minutes to start on a loaded machine.
  await runningContainer(svc, 300_000);
  t.equal((await w.cli(["rotate", svc])).code, 0, "generation 1 before the serves start");

  const serves: Serve[] = [];
  t.teardown(async () => {
    for (const s of serves) await s.proc.kill();
    rmSync(dir, { recursive: true, force: true });
    await w.cleanup();
  });
  for (const name of ["serve-1", "serve-2"]) {
    const port = await freePort();
      // The schedule is yearly: only the admin calls below rotate.
    const proc = spawnServe(["--no-tls", "--listen", `127.0.0.1:${port}`, "--admin-token-file", join(dir, "admin-token")], { ...w.env, SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *", SWARM_MTLS_ROTATION_LEASE_TTL: `${LEASE_TTL_SECONDS}s` });
    const s = { name, port, proc };
    serves.push(s);
  }
  const [one, two] = serves as [Serve, Serve];
  const adminRotate = async (s: Serve): Promise<{ status: number; body: string }> => {
    const r = await fetch(`http://127.0.0.1:${s.port}/v1/rotate`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ force: true }) });
    return { status: r.status, body: await r.text() };
  };
  const leaseOwner = async (): Promise<string | null> => {
    try {
      const [c] = JSON.parse(await docker("config", "inspect", lease)) as { Spec: { Labels: Record<string, string> } }[];
      return c?.Spec.Labels["io.swarm-mtls.lease.owner"] ?? null;
    } catch {
      return null; // nobody holds it
    }
  };
  // Both serve and their start-up reconcile (nothing to do) has released the lease.
  for (const s of serves) await until(`${s.name} answering`, 90_000, () => fetch(`http://127.0.0.1:${s.port}/healthz`).then((r) => (r.status < 500 ? true : undefined)));
  await until("the lease free", 60_000, async () => ((await leaseOwner()) === null ? true : undefined));

  // serve-1 starts a forced rotation; it is killed as soon as it holds the lease.
  const pending = adminRotate(one).catch(() => null);
  const owner = await until("serve-1 holding the lease", 60_000, async () => {
    const o = await leaseOwner();
    return o?.endsWith(`:${one.proc.child.pid}`) ? o : undefined;
  }, 100);
  one.proc.child.kill("SIGKILL");
  await one.proc.exited;
  await pending;
  t.equal(await leaseOwner(), owner, "the dead holder's lease is still there");

  const first = await adminRotate(two);
  t.equal(first.status, 409, "serve-2 is refused while the dead holder's lease lives");
  t.match(first.body, /another rotation is running/, "with the reason");
  t.match(first.body, `:${one.proc.child.pid}`, "naming the dead holder");

  const taken = await until(`serve-2 taking the lease over (TTL ${LEASE_TTL_SECONDS}s)`, 120_000, async () => {
    const r = await adminRotate(two);
    if (r.status === 409) return undefined;
    return r;
  }, 2000);
  t.equal(taken.status, 200, `serve-2's forced rotation ran once the lease had expired\n${taken.body}`);
  t.match(two.proc.log(), /"component":"audit".*"event":"rotate".*"result":"ok"/, "serve-2 logged the rotation");

  const attached = ((await inspectService(svc)).Spec.TaskTemplate.ContainerSpec.Secrets ?? []).map((r) => r.SecretName).filter((n) => /\.(crt|key)\.v\d+$/.test(n));
  const gens = [...new Set((await secretsOf(svc)).map((s) => generationOf(s.Spec.Name)))].sort((a, b) => a - b);
  const newest = gens[gens.length - 1] as number;
  t.same([...new Set(attached.map(generationOf))], [newest], `the service runs the newest complete generation (${newest})`);
  t.same(attached.sort(), [`mtls.${svc}.crt.v${newest}`, `mtls.${svc}.key.v${newest}`]);
  t.ok(gens.length <= 2, `at most one previous generation is kept (${gens.join(",")})`);
  t.ok(await until("the lease released", 60_000, async () => ((await leaseOwner()) === null ? true : undefined)), "serve-2 released the lease");
  await runningContainer(svc, 300_000);

  two.proc.child.kill("SIGTERM");
  t.equal((await two.proc.exited).code, 0, "serve-2 exits 0 on SIGTERM");
  for (const s of serves) t.equal(keyMaterialIn(s.proc.log(), [w.env.SWARM_MTLS_KEK_FILE]), null, `${s.name}'s log holds no private key nor the KEK`);
});

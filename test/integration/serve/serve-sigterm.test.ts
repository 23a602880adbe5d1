/**
 * SIGTERM while `serve` rolls a service out is bounded by serve.stopGrace (here 3s): serve abandons the rollout,
 * releases the lease and exits 0 while the service is still updating (its new task is not healthy yet). Nothing is
 * lost: the service keeps the new generation Docker is rolling out, the next `rotate` finds it up to date, and once
 * the task turns healthy the service runs on that generation. Real swarm; the docker CLI is the oracle.
 */
import { randomBytes } from "node:crypto";
import t from "tap";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { runCli, swarmTestEnv } from "../../helpers/cli.js";
import { docker, freePort, leaseFree, requireSwarmCli, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

await requireSwarmCli();
const world = swarmTestEnv();
const leaseName = world.env.SWARM_MTLS_ROTATION_LEASE_NAME as string;
const svc = `stop-${world.tag}-${randomBytes(2).toString("hex")}`;
const port = await freePort("127.0.0.1");

let serve: ServeProcess | null = null;
const serveLog = (): string => serve?.log() ?? "";

t.teardown(async () => {
  await serve?.kill();
  await docker("service", "rm", svc).catch(() => undefined);
  await until(`the managed secrets of ${svc} to be removed`, 60_000, async () => {
    let left = 0;
    for (const id of (await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${svc}`)).split("\n").filter(Boolean)) {
      await docker("secret", "rm", id).catch(() => left++);
    }
    return left === 0 ? true : undefined;
  }).catch(() => undefined);
  await docker("config", "rm", leaseName).catch(() => undefined);
});

interface ServiceView {
  Spec: { TaskTemplate: { ContainerSpec: { Secrets?: { SecretName: string; File: { Name: string } }[] } } };
  UpdateStatus?: { State?: string };
}
async function inspect(): Promise<ServiceView> {
  return (JSON.parse(await docker("service", "inspect", svc)) as ServiceView[])[0] as ServiceView;
}
const mounts = (s: ServiceView): string[] => (s.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).map((x) => x.SecretName).filter((n) => !n.startsWith("mtls.bundle.")).sort();
const leaseExists = async (): Promise<boolean> => !(await leaseFree(leaseName));

t.test("SIGTERM mid-rollout: abandoned after the grace, lease released, exit 0, nothing lost", async (t) => {
  serve = spawnServe(["--no-tls", "--listen", `127.0.0.1:${port}`], { ...world.env, SWARM_MTLS_SERVE_STOP_GRACE: "3s", SWARM_MTLS_SCHEDULE_CRON: "*/5 * * * *" });
  const proc = serve;
  const child = proc.child;
  await until("serve to answer /healthz", 120_000, async () => {
    assertServeRuns(proc);
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200 ? true : undefined;
  });

  // A service whose tasks become healthy only when the test says so (touch /tmp/ok): serve's rollout of its first
  // certificate cannot converge until then.
  await docker(
    "service", "create", "-d", "--name", svc, "--label", `${world.prefix}enable=true`,
    "--stop-grace-period", "1s", "--update-delay", "0s", "--update-monitor", "1s",
    "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "3", "--health-start-period", "600s",
    TEST_IMAGE, "sleep", "3600",
  );
  const want = [`mtls.${svc}.crt.v1`, `mtls.${svc}.key.v1`];
  await until(`serve to attach generation 1 to ${svc} (Docker event) and hold the lease`, 120_000, async () => {
    const s = await inspect();
    return JSON.stringify(mounts(s)) === JSON.stringify(want) && (await leaseExists()) ? true : undefined;
  });
  t.equal((await inspect()).UpdateStatus?.State, "updating", "the rollout is running (the new task is not healthy)");

  const t0 = Date.now();
  child.kill("SIGTERM");
  const end = await (serve as ServeProcess).exited;
  t.comment(`SIGTERM to exit: ${((Date.now() - t0) / 1000).toFixed(1)} s (serve.stopGrace 3s)`);
  t.same(end, { code: 0, signal: null }, "serve exits 0");
  t.match(serveLog(), /serve\.stopGrace elapsed: abandoning the running rollout/, "says it abandoned the rollout");
  t.match(serveLog(), /"reconcile":"abandoned"/, "and that the rollout returned after being abandoned");
  t.equal((await inspect()).UpdateStatus?.State, "updating", "it did not wait for the rollout: the service is still updating");
  t.notOk(await leaseExists(), "the lease is released");

  const s = await inspect();
  t.same(mounts(s), want, "the service keeps generation 1 (nothing rolled back or lost)");
  const secrets = (await docker("secret", "ls", "--format", "{{.Name}}", "--filter", `label=io.swarm-mtls.identity=${svc}`)).split("\n").filter(Boolean).sort();
  t.same(secrets, want, "docker secret ls: generation 1 exists, nothing orphaned");

  const rotate = await runCli(["rotate", svc, "--json"], { env: world.env, timeoutMs: 300_000 });
  t.equal(rotate.code, 0, `the next rotate exits 0: ${rotate.stderr}`);
  t.match(rotate.stdout, /up-to-date/, "and finds the service up to date at generation 1");
  t.notOk(await leaseExists(), "rotate released the lease too");

  // Let the new task turn healthy: the rollout serve started completes on generation 1.
  const cid = await until(`the new task of ${svc} (mounting tls.crt)`, 120_000, async () => {
    for (const id of (await docker("ps", "-q", "-f", `label=com.docker.swarm.service.name=${svc}`)).split("\n").filter(Boolean)) {
      if (await docker("exec", id, "test", "-f", "/run/secrets/tls.crt").then(() => true, () => false)) return id;
    }
    return undefined;
  });
  await docker("exec", cid, "touch", "/tmp/ok");
  await until(`${svc}'s update to complete`, 180_000, async () => ((await inspect()).UpdateStatus?.State === "completed" ? true : undefined));
  t.match(await docker("exec", cid, "cat", "/run/secrets/tls.crt"), /-----BEGIN CERTIFICATE-----/, "the task runs with its generation 1 certificate");
  t.same(mounts(await inspect()), want, "still generation 1");
});

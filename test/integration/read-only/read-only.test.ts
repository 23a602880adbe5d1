/**
 * The read-only commands without the key-encryption key, on the real sandbox swarm: `status`, `ca show` and
 * `envoy <service>` run where no KEK file can be read (an operator's shell on a manager, without the CA's secret)
 * print exactly what they print with the KEK, with the same exit codes, and say on stderr that what they read is not
 * authenticated. The KEK run is the oracle. Then the same three with `--server URL` against a running `serve`, from a
 * shell with neither the KEK nor anything but the URL: the same output as the local run, the same exit codes.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { runCli, swarmTestEnv, type CliRun } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { docker, FAST, freePort, removeTestServices, requireSwarmCli, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

// Fail loudly when there is no swarm or no shared test CA: never skip.
await requireSwarmCli();
const world = swarmTestEnv();
const P = world.prefix;
const dir = mkdtempSync(join(tmpdir(), "read-only-test-"));
const services: string[] = [];
const name = (what: string): string => `ro-${world.tag}-${what}-${randomBytes(2).toString("hex")}`;
const api = name("api");
const web = name("web");
const late = name("late");

let serve: ServeProcess | null = null;
t.teardown(async () => {
  await serve?.kill();
  await removeTestServices(services, world.env.SWARM_MTLS_ROTATION_LEASE_NAME as string);
  rmSync(dir, { recursive: true, force: true });
});

async function createService(svc: string, labels: Record<string, string>): Promise<void> {
  services.push(svc);
  const l = Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
  await docker("service", "create", "-d", "--name", svc, ...l, ...FAST, TEST_IMAGE, "sleep", "3600");
}

/** With the KEK: the test CA's environment, as every other test runs. */
const withKek = (args: string[]): Promise<CliRun> => runCli(args, { env: world.env, timeoutMs: 240_000 });
/** Without it: no SWARM_MTLS_KEK_FILE, run from a directory with no data/kek (the swarm fallback), nothing mounted. */
const { SWARM_MTLS_KEK_FILE: _kek, ...noKekEnv } = world.env;
const withoutKek = (args: string[]): Promise<CliRun> => runCli(args, { env: noKekEnv, cwd: dir, timeoutMs: 240_000 });

/** The `left` column counts down between two runs (minutes): compare the rest. */
const steady = (s: string): string => s.replace(/\b\d+[ydhms](\d+[ydhms])?\b/g, "<left>").replace(/"secondsLeft": -?\d+/g, '"secondsLeft": N');

t.test("set up: two services with certificates (one with an Envoy sidecar), one without yet", async (t) => {
  await createService(api, { [`${P}enable`]: "true", [`${P}envoy`]: "true", [`${P}envoy.upstreams`]: `${web}:9001`, [`${P}allow`]: web });
  await createService(web, { [`${P}enable`]: "true" });
  const r = await withKek(["rotate", "--all"]);
  t.equal(r.code, 0, "rotate --all with the KEK", { stdout: r.stdout, stderr: r.stderr });
  await createService(late, { [`${P}enable`]: "true" });
});

const noted = /note: no readable key-encryption key .*not authenticated/;

for (const [what, args, code] of [
  ["status", ["status"], 1],
  ["status --json", ["--json", "status"], 1],
  ["ca show", ["ca", "show"], 0],
  ["ca show --json", ["--json", "ca", "show"], 0],
  ["envoy <service>", ["envoy", api], 0],
  ["envoy <service> --check", ["envoy", api, "--check"], 0],
] as [string, string[], number][]) {
  t.test(`${what}: the same output and exit code without the KEK`, async (t) => {
    const a = await withKek(args);
    const b = await withoutKek(args);
    t.equal(a.code, code, `with the KEK: exit ${code}`, { stderr: a.stderr });
    t.equal(b.code, a.code, `without it: exit ${a.code} too`, { stderr: b.stderr });
    t.ok(a.stdout.length > 0, "something is printed");
    t.equal(steady(b.stdout), steady(a.stdout), "the same stdout");
    t.notMatch(a.stderr, noted, "with the KEK: no note");
    t.match(b.stderr, noted, "without it: stderr says the CA state was read unauthenticated");
  });
}

t.test("what status printed is this test's services: the late one is missing (exit 1 for scripts)", async (t) => {
  const b = await withoutKek(["--json", "status"]);
  const rows = (JSON.parse(b.stdout) as { services: { service: string; state: string }[] }).services;
  t.same(rows.map((r) => [r.service, r.state]).sort(), [[api, "ok"], [late, "missing"], [web, "ok"]].sort());
});

t.test("commands that need the CA's keys still refuse without the KEK", async (t) => {
  const r = await withoutKek(["rotate", late]);
  t.not(r.code, 0, "rotate fails");
  t.match(r.stderr, /no key-encryption key/, "and says why");
});

t.test("--server: a running serve's public API gives the same status, CA certificates and Envoy bootstrap", async (t) => {
  const port = await freePort("127.0.0.1");
  const base = `http://127.0.0.1:${port}`;
  const tokenFile = join(dir, "admin-token");
  writeFileSync(tokenFile, `${randomBytes(24).toString("hex")}\n`, { mode: 0o600 });
  serve = spawnServe(["--listen", `127.0.0.1:${port}`, "--no-tls", "--admin-token-file", tokenFile], { ...world.env, SWARM_MTLS_SCHEDULE_CRON: "*/5 * * * *" });
  const proc = serve;
  // serve issues the late service's first certificate on its own: wait until every row is ok.
  await until("serve to list this test's three services as ok", 240_000, async () => {
    assertServeRuns(proc);
    const r = await fetch(`${base}/v1/services`).catch(() => null);
    if (!r || r.status !== 200) return undefined;
    const rows = ((await r.json()) as { services: { state: string }[] }).services;
    return rows.length === 3 && rows.every((x) => x.state === "ok") ? true : undefined;
  });
  const remote = (args: string[]): Promise<CliRun> => withoutKek([...args, "--server", base]);

  const [ls, rs] = [await withoutKek(["status"]), await remote(["status"])];
  t.equal(ls.code, 0, "local status: exit 0 (every certificate fresh)", { stderr: ls.stderr });
  t.equal(rs.code, ls.code, "status --server: the same exit code", { stderr: rs.stderr });
  // serve takes the rotation lease for each reconcile (other tests' services cause some): a local run may show it,
  // the API does not publish it, so --server never prints that line.
  const noLease = (s: string): string => s.replace(/\n\nrotation running: lease held by [^\n]*/, "");
  t.equal(steady(rs.stdout), steady(noLease(ls.stdout)), "status --server prints the same table (the lease line aside)");
  t.notMatch(rs.stdout, /rotation running/, "and no lease line");
  const [lj, rj] = [JSON.parse((await withoutKek(["--json", "status"])).stdout), JSON.parse((await remote(["--json", "status"])).stdout)];
  const rows = (j: { services: Record<string, unknown>[] }): Record<string, unknown>[] => j.services.map(({ secondsLeft: _left, ...r }) => r);
  t.same(rows(rj), rows(lj), "status --json --server: the same service rows (time left aside: it counts down)");
  t.same(rj.caRotation, lj.caRotation, "and the same CA rotation");
  t.same([rj.mode, rj.lease, rj.trustDomain], [undefined, undefined, undefined], "what the API does not publish is left out: mode, lease, and over plain HTTP the trust domain");

  const [lc, rc] = [await withoutKek(["ca", "show"]), await remote(["ca", "show"])];
  t.equal(rc.code, 0, "ca show --server: exit 0", { stderr: rc.stderr });
  const body = (s: string): string => s.split("\n").slice(1).join("\n");
  t.equal(body(rc.stdout), body(lc.stdout), "ca show --server: the same certificates");
  t.match(rc.stdout.split("\n")[0], `CA (${base})`, "the first line names the server (plain HTTP: no API certificate to read the trust domain from)");

  const [le, re] = [await withoutKek(["envoy", api]), await remote(["envoy", api])];
  t.equal(re.code, 0, "envoy --server: exit 0", { stderr: re.stderr });
  t.equal(re.stdout, le.stdout, "envoy --server: the same bootstrap");
  t.notMatch(rs.stderr + rc.stderr + re.stderr, noted, "no KEK note: nothing was read from the CA state");

  const none = await remote(["envoy", "no-such-service"]);
  t.equal(none.code, 2, "envoy --server of an unknown service: exit 2");
  const clear = await withoutKek(["status", "--server", "http://192.0.2.1:8443"]);
  t.equal(clear.code, 2, "plain http:// to another host is refused (exit 2)");
  t.match(clear.stderr, /without TLS/, "and says why");
});

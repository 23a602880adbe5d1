/**
 * The read-only commands without the key-encryption key, on the real sandbox swarm: `status`, `ca show` and
 * `envoy <service>` run where no KEK file can be read (an operator's shell on a manager, without the CA's secret)
 * print exactly what they print with the KEK, with the same exit codes, and say on stderr that what they read is not
 * authenticated. The KEK run is the oracle.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { runCli, swarmTestEnv, type CliRun } from "../../helpers/cli.js";
import { docker, FAST, removeTestServices, requireSwarmCli, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

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

t.teardown(async () => {
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

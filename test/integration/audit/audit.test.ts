/**
 * `swarm-mtls audit` against the real swarm: deliberately bad services and networks must each produce their
 * finding, and a clean stack none at all. Other tests create objects at the same time, so every assertion filters
 * on this test's unique prefix.
 *
 * Every check this engine (Docker API 1.41) can be made to trigger appears here. CAP002 (seccomp / AppArmor
 * unconfined, SELinux label=disable) cannot: `docker service create` has no --security-opt, and
 * ContainerSpec.Privileges.Seccomp/AppArmor only exist from API 1.44; the check is unit-tested on the hand-edited
 * fixture test/fixtures/audit/service-unconfined.json instead.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import t, { type Test } from "tap";
import { docker, removeByPrefix, requireSwarm, TEST_IMAGE } from "../../fixtures/swarm/sandbox.js";
import { FAST } from "../../helpers/swarm-test.js";
import { CLI, runCli, testCa } from "../../helpers/cli.js";

interface Finding {
  id: string;
  severity: string;
  object: { kind: string; name: string };
  message: string;
  fix: string;
}
interface Report {
  failed: boolean;
  failOn: string;
  findings: Finding[];
}

const p = `audit-${randomBytes(4).toString("hex")}`;
/** A throwaway private key (made for this run, used nowhere) that the SEC002 service carries in its environment. */
const throwawayKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
/** This test's own opt-in prefix, so that a swarm-mtls serve running on the swarm leaves its services alone. */
const prefix = `${p}.`;
/**
 * The test CA (to rotate one service with a short-lived certificate) under this test's prefix and lease name. The
 * schedule is yearly, so that CRT001 ("expires before the next scheduled check") is certain for a 5-minute
 * certificate whatever minute the test runs in (the default schedule runs every 5 minutes).
 */
const env = { ...testCa().env, SWARM_MTLS_LABEL_PREFIX: prefix, SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.${p}`, SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *" };

/** A plain-TCP (no TLS) listener on loopback forwarding to the engine's Unix socket: a daemon reached over TCP. */
async function tcpForwarder(): Promise<{ server: Server; host: string }> {
  const server = createServer((client) => {
    const upstream = connect("/var/run/docker.sock");
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const addr = server.address();
  if (typeof addr !== "object" || !addr) throw new Error("no port");
  return { server, host: `tcp://127.0.0.1:${addr.port}` };
}

async function removeNetworks(names: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  let left = names;
  while (left.length > 0 && Date.now() < deadline) {
    const still: string[] = [];
    for (const n of left) {
      try {
        await docker("network", "rm", n);
      } catch (e) {
        if (!/not found|No such network/i.test(String((e as { stderr?: string }).stderr ?? e))) still.push(n);
      }
    }
    left = still;
    if (left.length > 0) await sleep(1000);
  }
}

t.test("audit of the real swarm", async (t) => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);
  const swarm = await requireSwarm();
  const networks = [`${p}-flat`, `${p}-safe`];
  const forwarder = await tcpForwarder();
  t.teardown(async () => {
    forwarder.server.close();
    await removeByPrefix(swarm, p);
    // The short-lived certificate's managed secrets are named mtls.<identity>.…, not after the prefix.
    for (const s of await swarm.listSecrets({ label: [`io.swarm-mtls.identity=${p}-short`] })) await swarm.removeSecret(s.id).catch(() => undefined);
    await removeNetworks(networks);
  });

  await docker("network", "create", "--driver", "overlay", `${p}-flat`);
  await docker("network", "create", "--driver", "overlay", "--internal", "--opt", "encrypted=true", `${p}-safe`);
  const create = (...args: string[]) => docker("service", "create", "--detach", "--quiet", "--stop-grace-period", "1s", ...args, TEST_IMAGE, "sleep", "3600");
  const stack = ["--label", `com.docker.stack.namespace=${p}`];
  await swarm.createSecret({ name: `${p}-secret`, data: Buffer.from("x") });
  await Promise.all([
    // The bad stack: everything on one unencrypted, non-internal overlay; a port published beside the database.
    create("--name", `${p}-web`, ...stack, "--network", `${p}-flat`, "--publish", "target=8080"),
    create("--name", `${p}-postgres`, ...stack, "--network", `${p}-flat`, "--env", "DB_PASSWORD=x", "--secret", `source=${p}-secret,target=db,mode=0444`),
    create("--name", `${p}-agent`, ...stack, "--network", `${p}-flat`, "--cap-add", "NET_ADMIN",
      "--mount", "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock", "--mount", "type=bind,src=/etc,dst=/host/etc,readonly"),
    create("--name", `${p}-hostnet`, "--network", "host"),
    // Opted in (with this test's prefix) yet publishing plain HTTP on 80.
    create("--name", `${p}-api`, "--label", `${prefix}enable=true`, "--publish", "target=80"),
    // The clean stack: a database and its client on an internal encrypted overlay, the secret 0400, no env credentials.
    create("--name", `${p}-clean-db`, "--network", `${p}-safe`, "--env", "LOG_LEVEL=info", "--secret", `source=${p}-secret,target=db,mode=0400`),
    create("--name", `${p}-clean-app`, "--network", `${p}-safe`, "--env", "DB_PASSWORD_FILE=/run/secrets/db"),
    // A data store publishing its port on every node.
    create("--name", `${p}-redis`, "--publish", "target=6379"),
    // Opted in with a 5-minute certificate (rotated below): it runs out before the (yearly) scheduled check.
    docker("service", "create", "--detach", "--quiet", ...FAST, "--name", `${p}-short`, "--label", `${prefix}enable=true`, "--label", `${prefix}ttl=5m`, TEST_IMAGE, "sleep", "3600"),
    // A private key in the environment, under a name no credential pattern matches (only the PEM header gives it
    // away). A throwaway key made here; created through the API so that no command line carries it.
    swarm.createService({
      Name: `${p}-pemenv`,
      TaskTemplate: {
        ContainerSpec: { Image: TEST_IMAGE, Command: ["sleep", "3600"], Env: [`SERVER_PEM=${throwawayKey}`], StopGracePeriod: 1e9 },
      },
    }),
  ]);
  const rotated = await runCli(["rotate", `${p}-short`], { env });
  t.equal(rotated.code, 0, `${p}-short rotated with a 5-minute certificate\n${rotated.stdout}${rotated.stderr}`);

  // Through a plain-TCP forwarder: the engine is reached over TCP without TLS (SOCK002).
  const run = await runCli(["audit", "--json"], { env: { ...env, DOCKER_HOST: forwarder.host } });
  t.equal(run.stderr, "", "nothing on stderr");
  t.equal(run.code, 1, "exit 1: findings at or above --fail-on high");
  const report = JSON.parse(run.stdout) as Report;
  t.equal(report.failOn, "high");
  t.equal(report.failed, true);
  const mine = report.findings.filter((f) => f.object.name.startsWith(p));
  const has = (t: Test, id: string, name: string, severity?: string) => {
    const f = mine.find((x) => x.id === id && x.object.name === name);
    t.ok(f, `${id} on ${name}`);
    if (f && severity) t.equal(f.severity, severity, `${id} on ${name} is ${severity}`);
    return f;
  };

  t.test("segmentation", async (t) => {
    const seg2 = has(t, "SEG002", `${p}-redis`, "high");
    t.match(seg2?.message, "database-like service publishes");
    const seg1 = has(t, "SEG001", `${p}-postgres`, "high");
    t.match(seg1?.message, `shares network ${p}-flat with ${p}-web`);
    has(t, "SEG003", `${p}-postgres`, "medium");
    const seg4 = has(t, "SEG004", `${p}-flat`, "medium");
    t.match(seg4?.message, `every service of stack ${p} (3) joins network ${p}-flat`);
  });
  t.test("encryption", async (t) => {
    has(t, "ENC001", `${p}-flat`);
    has(t, "ENC002", `${p}-api`, "high");
  });
  t.test("secrets", async (t) => {
    const sec = has(t, "SEC001", `${p}-postgres`, "high");
    t.equal(sec?.message, "environment variable DB_PASSWORD looks like a credential (value not shown)");
    const pem = has(t, "SEC002", `${p}-pemenv`, "critical");
    t.equal(pem?.message, "environment variable SERVER_PEM holds a PEM private key (value not shown)");
    t.notOk(mine.some((f) => f.id === "SEC001" && f.object.name === `${p}-pemenv`), "reported once, as a key (not also as a credential)");
    t.notOk(run.stdout.includes(throwawayKey.split("\n")[1] as string), "no line of the key is printed");
    const mode = has(t, "SEC003", `${p}-postgres`, "medium");
    t.match(mode?.message, "mode 0444");
  });
  t.test("docker socket and capabilities", async (t) => {
    has(t, "SOCK001", `${p}-agent`, "critical");
    const cap = has(t, "CAP001", `${p}-agent`, "high");
    t.equal(cap?.message, "adds capability NET_ADMIN");
    has(t, "CAP003", `${p}-agent`, "medium");
    has(t, "CAP004", `${p}-hostnet`, "medium");
    const engine = report.findings.find((f) => f.id === "SOCK002" && f.object.kind === "engine");
    t.equal(engine?.object.name, forwarder.host, "SOCK002 names the TCP address we reached");
    t.equal(engine?.severity, "high", "high on loopback");
  });
  t.test("certificates", async (t) => {
    const crt1 = has(t, "CRT001", `${p}-short`, "high");
    t.match(crt1?.message, new RegExp(`certificate mtls\\.${p}-short\\.crt\\.v1 expires at .* before the next scheduled check`));
    t.notOk(mine.some((f) => f.id === "CRT002" && f.object.name === `${p}-short`), "the rotated service has its certificate (no CRT002)");
    has(t, "CRT002", `${p}-api`, "low");
    has(t, "CRT003", `${p}-web`, "info");
  });
  t.test("the clean stack: no finding at all, of any severity", async (t) => {
    const clean = mine.filter((f) => f.object.name.startsWith(`${p}-clean-`) || f.object.name === `${p}-safe`);
    t.same(clean, []);
  });
  t.test("reached over the Unix socket: no SOCK002", async (t) => {
    const local = await runCli(["audit", "--json", "--fail-on", "none"], { env });
    t.equal(local.code, 0);
    t.notOk((JSON.parse(local.stdout) as Report).findings.some((f) => f.id === "SOCK002"));
  });

  t.test("SARIF and --fail-on none", async (t) => {
    const sarif = await runCli(["audit", "--format", "sarif", "--fail-on", "none"], { env });
    t.equal(sarif.code, 0, "--fail-on none never fails");
    const log = JSON.parse(sarif.stdout) as { version: string; runs: { results: { ruleId: string; locations: { logicalLocations: { fullyQualifiedName: string }[] }[] }[] }[] };
    t.equal(log.version, "2.1.0");
    const names = log.runs[0]!.results.map((r) => `${r.ruleId} ${r.locations[0]!.logicalLocations[0]!.fullyQualifiedName}`);
    t.ok(names.includes(`SOCK001 service/${p}-agent`));
  });

  t.test("table view for people", async (t) => {
    const table = await runCli(["audit", "--fail-on", "critical"], { env });
    t.equal(table.code, 1, "the socket mount is critical");
    t.match(table.stdout, /^severity\s+id\s+object\s+message\s+fix/);
    t.match(table.stdout, new RegExp(`critical\\s+SOCK001\\s+service ${p}-agent\\s+bind-mounts the engine socket`));
    t.notMatch(table.stdout, /DB_PASSWORD=x/);
  });
});

/**
 * `swarm-mtls audit` against the real swarm: deliberately bad services and networks must each produce their
 * finding, and a clean stack none of severity medium or above. Other tests create objects at the same time, so
 * every assertion filters on this test's unique prefix.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import t, { type Test } from "tap";
import { docker, removeByPrefix, requireSwarm, TEST_IMAGE } from "../../fixtures/swarm/sandbox.js";
import { CLI, runCli } from "../../helpers/cli.js";

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
/** This test's own opt-in prefix, so that a swarm-mtls serve running on the swarm leaves its services alone. */
const prefix = `${p}.`;
const env = { SWARM_MTLS_LABEL_PREFIX: prefix };

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
  t.teardown(async () => {
    await removeByPrefix(swarm, p);
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
  ]);

  const run = await runCli(["audit", "--json"], { env });
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
    const mode = has(t, "SEC003", `${p}-postgres`, "medium");
    t.match(mode?.message, "mode 0444");
  });
  t.test("docker socket and capabilities", async (t) => {
    has(t, "SOCK001", `${p}-agent`, "critical");
    const cap = has(t, "CAP001", `${p}-agent`, "high");
    t.equal(cap?.message, "adds capability NET_ADMIN");
    has(t, "CAP003", `${p}-agent`, "medium");
    has(t, "CAP004", `${p}-hostnet`, "medium");
  });
  t.test("certificates", async (t) => {
    has(t, "CRT002", `${p}-api`, "low");
    has(t, "CRT003", `${p}-web`, "info");
  });
  t.test("the clean stack: nothing of severity medium or above", async (t) => {
    const clean = mine.filter((f) => f.object.name.startsWith(`${p}-clean-`) || f.object.name === `${p}-safe`);
    t.same(clean.filter((f) => ["medium", "high", "critical"].includes(f.severity)), []);
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

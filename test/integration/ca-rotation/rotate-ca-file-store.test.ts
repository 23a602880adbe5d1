/**
 * `rotate-ca` with a file store (file:DIR) on a swarm host: the file store has no services to roll a new CA out to,
 * and its CA is not the one the swarm's services mount, so the command refuses with exit 2 and a message that says
 * why, and changes nothing: not the file store, not the swarm's opted-in services, no lease taken. The same with
 * `--store auto` when no swarm manager answers (auto then means file:./data).
 */
import t from "tap";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../helpers/cli.js";
import { docker, FAST, requireSwarmCli, TEST_IMAGE } from "../../helpers/swarm-test.js";

await requireSwarmCli({ needsCa: false });
// Longer than the runner's default per-file timeout: each CLI run starts node and probes Docker; about 4 minutes on a loaded 2-CPU machine.
t.setTimeout(15 * 60_000);

const tag = `fca${randomBytes(3).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-rotate-ca-file-"));
const store = join(dir, "data");
const svc = `fca-${tag}-a`;
const leaseName = `mtls.lock.${tag}`;
const env = { SWARM_MTLS_LABEL_PREFIX: `${tag}.`, SWARM_MTLS_ROTATION_LEASE_NAME: leaseName };

t.teardown(async () => {
  await docker("service", "rm", svc).catch(() => undefined);
  for (const id of (await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${svc}`)).split("\n").filter(Boolean)) await docker("secret", "rm", id).catch(() => undefined);
  await docker("config", "rm", leaseName).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** Every file under the store with its bytes (the oracle for "nothing changed"). */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[p.slice(root.length)] = readFileSync(p).toString("base64");
    }
  };
  walk(root);
  return out;
}

t.test("rotate-ca --store file:DIR on a swarm host refuses with exit 2 and changes nothing", async (t) => {
  const init = await runCli(["init", "--trust-domain", "file-store.test", "--store", `file:${store}`], { env });
  t.equal(init.code, 0, `init of the file store exits 0${init.code === 0 ? "" : `: ${init.stderr}`}`);
  await docker("service", "create", "-d", "--name", svc, "--label", `${tag}.enable=true`, ...FAST, TEST_IMAGE, "sleep", "3600");
  const before = snapshot(store);

  for (const args of [[], ["--step"], ["--root"], ["--dry-run"]]) {
    const r = await runCli(["rotate-ca", ...args, "--store", `file:${store}`], { env });
    t.equal(r.code, 2, `rotate-ca ${args.join(" ")} --store file:DIR exits 2 (bad input)`);
    t.match(r.stderr, /rotate-ca works on the swarm store only/, "says it works on the swarm store only");
    t.match(r.stderr, new RegExp(`the CA in file:${store.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} has none\\. Nothing was changed`), "names the file store and says nothing was changed");
    t.equal(r.stdout, "", "prints no result");
  }

  t.same(snapshot(store), before, "the file store is byte for byte as before (no rotation record, no new CA)");
  t.same((await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${svc}`)).trim(), "", "the opted-in swarm service got no certificate from the file store's CA");
  const [s] = JSON.parse(await docker("service", "inspect", svc)) as { Spec: { TaskTemplate: { ContainerSpec: { Secrets?: unknown[] } } } }[];
  t.same(s?.Spec.TaskTemplate.ContainerSpec.Secrets ?? [], [], "its spec mounts no secret");
  t.equal((await docker("config", "ls", "-q", "--filter", `name=${leaseName}`)).trim(), "", "no swarm lease was taken");
});

t.test("rotate-ca with --store auto and no swarm manager (auto = file:./data) says so and changes nothing", async (t) => {
  const before = snapshot(store);
  const r = await runCli(["rotate-ca"], { env: { ...env, DOCKER_HOST: `unix://${join(dir, "no-docker.sock")}` }, cwd: dir });
  t.equal(r.code, 2, `exits 2${r.code === 2 ? "" : `: ${r.stderr}`}`);
  t.match(r.stderr, /--store auto chose file:\S+data: no swarm manager answered/, "says that auto chose the file store because no swarm manager answered");
  t.same(snapshot(store), before, "the file store is unchanged");
});

/**
 * The swarm store, backup and restore on the real swarm, with a CA of its own (own CA-state config name and KEK
 * secret), so the shared test CA is never touched: `init --store swarm` refuses an existing CA without --force and a
 * KEK secret holding another key; only the newest CA-state versions are kept; backup → the CA's configs and KEK secret
 * removed (a swarm lost) → restore recreates both, `ca show` shows the same fingerprints and `issue` works.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { runCli, type CliRun } from "../../helpers/cli.js";
import { docker, requireSwarmCli } from "../../helpers/swarm-test.js";

await requireSwarmCli();

const tag = `st${randomBytes(3).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-store-"));
const caStateName = `mtls.${tag}.ca-state`;
const kekSecret = `swarm-mtls-kek-${tag}`;
const kekFile = join(dir, "kek");
const env: Record<string, string> = {
  SWARM_MTLS_STORE: "swarm",
  SWARM_MTLS_KEK_FILE: kekFile,
  SWARM_MTLS_CA_STATE_NAME: caStateName,
  SWARM_MTLS_KEK_SECRET_NAME: kekSecret,
  SWARM_MTLS_LABEL_PREFIX: `${tag}.`,
  SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.${tag}`,
};
const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliRun> => runCli(args, { env: { ...env, ...extra }, cwd: dir });

/** Names of this CA's CA-state configs, oldest first. */
async function stateConfigs(): Promise<string[]> {
  const names = (await docker("config", "ls", "--format", "{{.Name}}")).split("\n").filter((n) => n.startsWith(`${caStateName}.v`));
  return names.sort((a, b) => Number(a.split(".v").pop()) - Number(b.split(".v").pop()));
}
const secretExists = async (name: string): Promise<boolean> => (await docker("secret", "ls", "--format", "{{.Name}}")).split("\n").includes(name);

t.teardown(async () => {
  for (const name of await stateConfigs().catch(() => [])) await docker("config", "rm", name).catch(() => undefined);
  await docker("secret", "rm", kekSecret).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

interface CaShow {
  trustDomain: string;
  certificates: { role: string; fingerprint: string }[];
}
const fingerprints = (r: CliRun): string[] => (JSON.parse(r.stdout) as CaShow).certificates.map((c) => `${c.role}:${c.fingerprint}`);

t.test("swarm store: init, refusals, kept versions", async (t) => {
  const first = await cli(["init", "--trust-domain", "store.example", "--json"]);
  t.equal(first.code, 0, first.stderr);
  t.same(await stateConfigs(), [`${caStateName}.v1`], "docker config ls: the CA state v1");
  t.ok(await secretExists(kekSecret), "docker secret ls: the KEK secret");

  const again = await cli(["init", "--trust-domain", "store.example"]);
  t.equal(again.code, 2, "init over a CA: exit 2");
  t.equal(again.stderr.trim().split("\n").length, 1, "one line");
  t.match(again.stderr, /--force/);
  t.same(await stateConfigs(), [`${caStateName}.v1`], "nothing written");

  const otherKek = join(dir, "other.kek");
  writeFileSync(otherKek, `${randomBytes(32).toString("base64")}\n`, { mode: 0o400 });
  const mismatch = await cli(["init", "--trust-domain", "store.example", "--force"], { SWARM_MTLS_KEK_FILE: otherKek });
  t.equal(mismatch.code, 2, "another KEK than the secret's: exit 2");
  t.match(mismatch.stderr, new RegExp(`${kekSecret} secret made from another key`), "names the KEK secret");
  t.same(await stateConfigs(), [`${caStateName}.v1`], "nothing written");

  for (let i = 0; i < 3; i++) {
    const forced = await cli(["init", "--trust-domain", "store.example", "--force"]);
    t.equal(forced.code, 0, `init --force #${i + 1}: ${forced.stderr}`);
  }
  t.same(await stateConfigs(), [`${caStateName}.v2`, `${caStateName}.v3`, `${caStateName}.v4`], "three CA-state versions kept, the oldest removed");
});

t.test("backup, a lost swarm, restore", async (t) => {
  const shown = await cli(["ca", "show", "--json"]);
  t.equal(shown.code, 0, shown.stderr);
  const before = fingerprints(shown);
  const backupFile = join(dir, "ca.backup");
  const backup = await cli(["backup", "--out", backupFile]);
  t.equal(backup.code, 0, backup.stderr);
  t.match(backup.stdout, /keep a copy of that key/, "backup says to keep the KEK");
  t.notMatch(readFileSync(backupFile, "utf8"), /PRIVATE KEY/, "no PEM private key in the backup");

  // The disaster: the CA's configs and its KEK secret are gone.
  for (const name of await stateConfigs()) await docker("config", "rm", name);
  await docker("secret", "rm", kekSecret);
  const lost = await cli(["ca", "show"]);
  t.equal(lost.code, 2, "no CA any more");

  const otherKek = join(dir, "other2.kek");
  writeFileSync(otherKek, `${randomBytes(32).toString("base64")}\n`, { mode: 0o400 });
  const wrong = await cli(["restore", backupFile], { SWARM_MTLS_KEK_FILE: otherKek });
  t.equal(wrong.code, 2, "restore with another KEK: exit 2");
  t.match(wrong.stderr, /key-encryption key/);
  t.same(await stateConfigs(), [], "nothing written");
  t.notOk(await secretExists(kekSecret), "no KEK secret made");

  const restored = await cli(["restore", backupFile]);
  t.equal(restored.code, 0, restored.stderr);
  t.match(restored.stdout, new RegExp(`key-encryption key secret ${kekSecret}: created`), "says it recreated the KEK secret");
  t.notMatch(restored.stdout, /keep the KEK to restore/, "not the backup's wording");
  t.ok(await secretExists(kekSecret), "docker secret ls: the KEK secret is back");
  const labels = JSON.parse(await docker("secret", "inspect", kekSecret, "--format", "{{json .Spec.Labels}}")) as Record<string, string>;
  t.equal(labels["io.swarm-mtls.kind"], "kek", "labelled as the KEK");
  t.same(await stateConfigs(), [`${caStateName}.v1`], "the CA state is back");
  const after = await cli(["ca", "show", "--json"]);
  t.same(fingerprints(after), before, "ca show: the same fingerprints");

  const issued = await cli(["issue", "web", "--out", join(dir, "out"), "--json"]);
  t.equal(issued.code, 0, `issue works: ${issued.stderr}`);

  const twice = await cli(["restore", backupFile]);
  t.equal(twice.code, 2, "restore over a CA without --force: exit 2");
  t.match(twice.stderr, /--force/);
  const forced = await cli(["restore", backupFile, "--force"]);
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.stdout, new RegExp(`${kekSecret}: exists, same key`));
});

t.test("rotate <unknown service>: exit 2, one line, before anything runs", async (t) => {
  const r = await cli(["rotate", `no-such-${tag}`]);
  t.equal(r.code, 2, "exit 2");
  t.equal(r.stdout, "", "no table");
  t.equal(r.stderr.trim().split("\n").length, 1, "one line");
  t.match(r.stderr, `no service named 'no-such-${tag}'`);
  const dry = await cli(["rotate", "--dry-run", `no-such-${tag}`]);
  t.equal(dry.code, 2, "--dry-run too");
});

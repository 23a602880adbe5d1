/**
 * Envoy sidecar configs on the real sandbox swarm: `rotate` publishes the bootstrap as a versioned Docker config
 * mounted at /etc/envoy/envoy.yaml, re-publishes it only when its content changes, never prunes what a service
 * still mounts; `swarm-mtls envoy <svc> [--check] [--out F]` and `envoy check FILE` as users run them. The docker
 * CLI is the oracle for services, secrets and configs; the file is read back inside the running task.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { runCli, swarmTestEnv, type CliRun } from "../../helpers/cli.js";
import { docker, FAST, removeTestServices, requireSwarmCli, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

const TARGET = "/etc/envoy/envoy.yaml";

// Fail loudly when there is no swarm or no shared test CA: never skip.
await requireSwarmCli();
const world = swarmTestEnv();
const P = world.prefix;
const dir = mkdtempSync(join(tmpdir(), "envoy-test-"));

const services = new Set<string>();
const name = (what: string): string => `env-${world.tag}-${what}-${randomBytes(2).toString("hex")}`;

t.teardown(async () => {
  await removeTestServices(services, world.env.SWARM_MTLS_ROTATION_LEASE_NAME as string);
  rmSync(dir, { recursive: true, force: true });
});

async function createService(svc: string, labels: Record<string, string>, extra: string[] = []): Promise<void> {
  services.add(svc);
  const l = Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
  await docker("service", "create", "-d", "--name", svc, ...l, ...FAST, ...extra, TEST_IMAGE, "sleep", "3600");
}

const cli = (args: string[]): Promise<CliRun> => runCli(args, { env: world.env, timeoutMs: 240_000 });

interface Outcome {
  service: string;
  identity: string | null;
  result: string;
  reason: string;
  generationBefore: number | null;
  generationAfter: number | null;
  error?: string;
}
async function rotate(...args: string[]): Promise<{ code: number; outcomes: Outcome[]; stderr: string }> {
  const r = await cli(["--json", "rotate", ...args]);
  try {
    return { code: r.code, outcomes: (JSON.parse(r.stdout) as { outcomes: Outcome[] }).outcomes, stderr: r.stderr };
  } catch {
    throw new Error(`rotate printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

interface Ref {
  File: { Name: string };
  SecretID?: string;
  SecretName?: string;
  ConfigID?: string;
  ConfigName?: string;
}
interface Mounts {
  secrets: Ref[];
  configs: Ref[];
}
async function mounts(svc: string): Promise<Mounts> {
  const [s] = JSON.parse(await docker("service", "inspect", svc)) as { Spec: { TaskTemplate: { ContainerSpec: { Secrets?: Ref[]; Configs?: Ref[] } } } }[];
  const cs = s?.Spec.TaskTemplate.ContainerSpec;
  const byFile = (a: Ref, b: Ref) => a.File.Name.localeCompare(b.File.Name);
  return { secrets: (cs?.Secrets ?? []).slice().sort(byFile), configs: (cs?.Configs ?? []).slice().sort(byFile) };
}
/** [target, secret name] of the certificate and key (the bundle's generation is shared by all tests). */
const certRefs = (m: Mounts) => m.secrets.filter((r) => r.File.Name !== "ca.crt").map((r) => [r.File.Name, r.SecretName]);
const configRefs = (m: Mounts) => m.configs.map((r) => [r.File.Name, r.ConfigName]);

async function namesOf(kind: "secret" | "config", identity: string): Promise<string[]> {
  return (await docker(kind, "ls", "--format", "{{.Name}}", "--filter", `label=io.swarm-mtls.identity=${identity}`)).split("\n").filter(Boolean).sort();
}
async function configData(id: string): Promise<string> {
  const [c] = JSON.parse(await docker("config", "inspect", id)) as { Spec: { Data: string } }[];
  return Buffer.from(c?.Spec.Data ?? "", "base64").toString("utf8");
}

/** The file as the service's one running task sees it, once that task runs with the wanted config. */
async function fileInTask(svc: string, configId: string, path: string): Promise<string> {
  return until(`a running task of ${svc} with config ${configId}`, 60_000, async () => {
    const ids = (await docker("service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", svc)).split("\n").filter(Boolean);
    if (ids.length !== 1) return undefined;
    const [task] = JSON.parse(await docker("inspect", "--type", "task", ids[0] as string)) as {
      Spec: { ContainerSpec: { Configs?: Ref[] } };
      Status: { State: string; ContainerStatus?: { ContainerID?: string } };
    }[];
    const cid = task?.Status.ContainerStatus?.ContainerID;
    if (task?.Status.State !== "running" || !cid || !task.Spec.ContainerSpec.Configs?.some((c) => c.ConfigID === configId)) return undefined;
    return docker("exec", cid, "cat", path);
  });
}

async function envoyCheck(text: string, file: string): Promise<CliRun> {
  const path = join(dir, file);
  writeFileSync(path, text);
  return cli(["envoy", "check", path]);
}

t.test("rotate publishes the Envoy bootstrap as a versioned config, re-published only when it changes", async (t) => {
  const svc = name("api");
  const peer = name("peer");
  const pin = name("pin");
  await createService(svc, { [`${P}enable`]: "true", [`${P}envoy`]: "true", [`${P}envoy.upstreams`]: `${peer}:9001`, [`${P}allow`]: peer });

  const first = await rotate(svc);
  t.equal(first.code, 0, first.stderr);
  t.match(first.outcomes, [{ service: svc, identity: svc, result: "rotated", generationAfter: 1 }]);
  let m = await mounts(svc);
  t.same(configRefs(m), [[TARGET, `mtls.${svc}.envoy.v1`]], `docker service inspect: mtls.${svc}.envoy.v1 at ${TARGET}`);
  t.same(certRefs(m), [["tls.crt", `mtls.${svc}.crt.v1`], ["tls.key", `mtls.${svc}.key.v1`]], "in the same update as the certificates");
  const v1Id = m.configs[0]?.ConfigID as string;
  const [v1Config] = JSON.parse(await docker("config", "inspect", v1Id)) as { Spec: { Labels: Record<string, string> } }[];
  t.match(v1Config?.Spec.Labels, { "io.swarm-mtls.managed": "true", "io.swarm-mtls.kind": "envoy", "io.swarm-mtls.identity": svc, "io.swarm-mtls.generation": "1" }, "labelled as managed");
  // Labels as for secrets: the serial, validity and issuer of the certificate it was published with (crt.v1's).
  const crtLabels = JSON.parse(await docker("secret", "inspect", `mtls.${svc}.crt.v1`, "--format", "{{json .Spec.Labels}}")) as Record<string, string>;
  for (const k of ["serial", "not-before", "not-after", "issuer"]) {
    t.ok(crtLabels[`io.swarm-mtls.${k}`], `crt.v1 has io.swarm-mtls.${k}`);
    t.equal(v1Config?.Spec.Labels[`io.swarm-mtls.${k}`], crtLabels[`io.swarm-mtls.${k}`], `envoy.v1 carries the certificate's io.swarm-mtls.${k}`);
  }

  const yaml1 = await fileInTask(svc, v1Id, TARGET);
  t.equal(yaml1, await configData(v1Id), "the task reads the config's content at /etc/envoy/envoy.yaml");
  t.match(yaml1, `tasks.${peer}`, "the upstream is resolved through tasks.<service>");
  t.match(yaml1, new RegExp(`spiffe://[^"'\\s]+/${peer}\\b`), "the peer's SPIFFE ID is pinned / allowed");
  t.match(yaml1, /tcp_proxy/, "TCP mode by default");
  t.match(await fileInTask(svc, v1Id, "/run/secrets/tls.crt"), /-----BEGIN CERTIFICATE-----/, "the files Envoy reads are mounted next to it");
  const check1 = await envoyCheck(yaml1, "from-task-v1.yaml");
  t.equal(check1.code, 0, `envoy check exits 0: ${check1.stdout}${check1.stderr}`);
  t.match(check1.stdout, /: 0 errors, 0 warnings/, "swarm-mtls envoy check: 0 errors");

  const forced = await rotate(svc, "--force");
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.outcomes, [{ service: svc, result: "rotated", reason: "forced", generationBefore: 1, generationAfter: 2 }]);
  m = await mounts(svc);
  t.same(certRefs(m), [["tls.crt", `mtls.${svc}.crt.v2`], ["tls.key", `mtls.${svc}.key.v2`]], "the certificates move to v2");
  t.same(m.configs.map((c) => [c.File.Name, c.ConfigName, c.ConfigID]), [[TARGET, `mtls.${svc}.envoy.v1`, v1Id]], "the same envoy.v1 config stays mounted");
  t.same(await namesOf("config", svc), [`mtls.${svc}.envoy.v1`], "docker config ls: content unchanged, nothing re-published");

  // Another service mounts the oldest objects: whatever happens, they must not be pruned under it.
  await createService(pin, {}, ["--config", `source=mtls.${svc}.envoy.v1,target=/pinned.yaml`, "--secret", `source=mtls.${svc}.crt.v1,target=pinned.crt`]);

  await docker("service", "update", "-d", "--label-add", `${P}envoy.mode=http`, svc);
  const changed = await rotate(svc);
  t.equal(changed.code, 0, changed.stderr);
  t.match(changed.outcomes, [{ service: svc, result: "reattached", reason: "envoy-changed", generationBefore: 2, generationAfter: 2 }], "a label change re-publishes the config, not the certificate");
  m = await mounts(svc);
  t.same(configRefs(m), [[TARGET, `mtls.${svc}.envoy.v2`]], "envoy.v2 is mounted");
  t.same(certRefs(m), [["tls.crt", `mtls.${svc}.crt.v2`], ["tls.key", `mtls.${svc}.key.v2`]], "certificates unchanged");
  const yaml2 = await fileInTask(svc, m.configs[0]?.ConfigID as string, TARGET);
  t.match(yaml2, /http_connection_manager/, "the task reads the HTTP-mode bootstrap");
  const check2 = await envoyCheck(yaml2, "from-task-v2.yaml");
  t.equal(check2.code, 0, check2.stdout);
  t.match(check2.stdout, /: 0 errors, 0 warnings/);

  await docker("service", "update", "-d", "--label-add", `${P}envoy.tls-min=1.3`, svc);
  const changedAgain = await rotate(svc);
  t.equal(changedAgain.code, 0, changedAgain.stderr);
  t.same(configRefs(await mounts(svc)), [[TARGET, `mtls.${svc}.envoy.v3`]], "envoy.v3 is mounted");

  const forcedAgain = await rotate(svc, "--force");
  t.equal(forcedAgain.code, 0, forcedAgain.stderr);
  t.match(forcedAgain.outcomes, [{ service: svc, result: "rotated", generationBefore: 2, generationAfter: 3 }]);
  m = await mounts(svc);
  t.same(certRefs(m), [["tls.crt", `mtls.${svc}.crt.v3`], ["tls.key", `mtls.${svc}.key.v3`]]);
  t.same(configRefs(m), [[TARGET, `mtls.${svc}.envoy.v3`]], "envoy.v3 stays (content unchanged)");
  for (const s of [svc, pin]) {
    const mm = await mounts(s);
    for (const r of mm.secrets) t.ok(await docker("secret", "inspect", r.SecretID as string), `${s} mounts secret ${r.SecretName}: it still exists`);
    for (const r of mm.configs) t.ok(await docker("config", "inspect", r.ConfigID as string), `${s} mounts config ${r.ConfigName}: it still exists`);
  }
  t.same(await namesOf("config", svc), [`mtls.${svc}.envoy.v1`, `mtls.${svc}.envoy.v2`, `mtls.${svc}.envoy.v3`], "docker config ls: v1 kept because it is mounted, v2 kept as the previous one");
  t.same(
    await namesOf("secret", svc),
    [`mtls.${svc}.crt.v1`, `mtls.${svc}.crt.v2`, `mtls.${svc}.crt.v3`, `mtls.${svc}.key.v1`, `mtls.${svc}.key.v2`, `mtls.${svc}.key.v3`],
    "docker secret ls: generation 1 kept because it is mounted",
  );

  // Once nothing mounts them, superseded versions go (one previous kept).
  await docker("service", "rm", pin);
  const last = await rotate(svc, "--force");
  t.equal(last.code, 0, last.stderr);
  t.same(await namesOf("config", svc), [`mtls.${svc}.envoy.v2`, `mtls.${svc}.envoy.v3`], "docker config ls: envoy.v1 pruned once unreferenced");
  t.same(await namesOf("secret", svc), [`mtls.${svc}.crt.v3`, `mtls.${svc}.crt.v4`, `mtls.${svc}.key.v3`, `mtls.${svc}.key.v4`], "docker secret ls: generations 1 and 2 pruned");
});

t.test("envoy <service> --check / --out, and a service without Envoy", async (t) => {
  const svc = name("web");
  const plain = name("plain");
  await createService(svc, { [`${P}enable`]: "true", [`${P}envoy`]: "true", [`${P}envoy.mode`]: "http", [`${P}envoy.upstreams`]: "db:5432,cache:6379@16379" });
  await createService(plain, { [`${P}enable`]: "true" });

  const checked = await cli(["envoy", svc, "--check"]);
  t.equal(checked.code, 0, checked.stderr);
  t.match(checked.stdout, new RegExp(`bootstrap of ${svc}: 0 errors, 0 warnings`), "--check prints the check result");

  const printed = await cli(["envoy", svc]);
  t.equal(printed.code, 0, printed.stderr);
  t.match(printed.stdout, /http_connection_manager/);
  const out = join(dir, "web-envoy.yaml");
  const written = await cli(["envoy", svc, "--out", out]);
  t.equal(written.code, 0, written.stderr);
  t.match(written.stdout, `wrote ${out}`);
  t.equal(readFileSync(out, "utf8").trim(), printed.stdout.trim(), "--out writes what `envoy <svc>` prints");
  const fileCheck = await cli(["envoy", "check", out]);
  t.equal(fileCheck.code, 0, fileCheck.stdout);
  t.match(fileCheck.stdout, new RegExp(`${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: 0 errors, 0 warnings`));
  t.same(await namesOf("config", svc), [], "printing publishes nothing");

  const none = await cli(["envoy", plain]);
  t.equal(none.code, 2, "a service without Envoy: exit 2");
  t.match(none.stderr, `${P}envoy=true`, "the message names the label to add");
  t.equal(none.stdout, "");

  const missing = await cli(["envoy", name("nosuch")]);
  t.equal(missing.code, 2, "no such service: exit 2");
  t.match(missing.stderr, /no service named/);
});

t.test("a bad Envoy label makes rotate report the service invalid, naming the label; nothing is created for it", async (t) => {
  const bad = name("bad");
  const good = name("good");
  await createService(bad, { [`${P}enable`]: "true", [`${P}envoy`]: "true", [`${P}envoy.listen`]: "abc" });
  await createService(good, { [`${P}enable`]: "true", [`${P}envoy`]: "true" });

  const r = await rotate(bad, good);
  t.equal(r.code, 1, "rotate exits 1");
  t.match(r.outcomes.find((o) => o.service === bad), { service: bad, identity: null, result: "invalid", error: `label ${P}envoy.listen: 'abc'` });
  t.match(r.outcomes.find((o) => o.service === good), { service: good, result: "rotated", generationAfter: 1 }, "the other service is still rotated");
  t.same(await mounts(bad), { secrets: [], configs: [] }, "docker service inspect: nothing mounted on the invalid service");
  t.same(await namesOf("secret", bad), [], "docker secret ls: nothing created for it");
  t.same(await namesOf("config", bad), [], "docker config ls: nothing created for it");
  t.same(configRefs(await mounts(good)), [[TARGET, `mtls.${good}.envoy.v1`]]);

  const human = await cli(["rotate", bad]);
  t.equal(human.code, 1);
  t.match(human.stdout, `${P}envoy.listen`, "the table names the label too");

  const envoy = await cli(["envoy", bad]);
  t.equal(envoy.code, 2, "envoy <svc> with a bad label: exit 2");
  t.match(envoy.stderr, `label ${P}envoy.listen: 'abc' is not a port`);
});

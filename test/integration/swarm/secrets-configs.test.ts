import t from "tap";
import { isMtlsError } from "../../../src/errors.js";
import { isNameConflict } from "../../../src/swarm/docker-error.js";
import { removeByPrefix, requireSwarm, uniquePrefix, docker } from "../../fixtures/swarm/sandbox.js";

const swarm = await requireSwarm();
const prefix = uniquePrefix();
t.teardown(() => removeByPrefix(swarm, prefix));

t.test("secrets: exact-name lookup despite the engine's substring filter", async (t) => {
  const v1 = `${prefix}.a.crt.v1`;
  const v10 = `${prefix}.a.crt.v10`;
  const id10 = await swarm.createSecret({ name: v10, data: Buffer.from("ten"), labels: { "io.swarm-mtls.managed": "true", "io.swarm-mtls.generation": "10" } });
  t.equal(await swarm.findSecret(v1), null, `${v1} is not found although ${v10} contains it`);
  const id1 = await swarm.createSecret({ name: v1, data: Buffer.from("one"), labels: { "io.swarm-mtls.managed": "true", "io.swarm-mtls.generation": "1" } });
  const found = await swarm.findSecret(v1);
  t.equal(found?.id, id1);
  t.equal(found?.name, v1);
  t.same(found?.labels, { "io.swarm-mtls.managed": "true", "io.swarm-mtls.generation": "1" });
  t.equal((await swarm.findSecret(v10))?.id, id10);
  t.equal((await docker("secret", "inspect", "--format", "{{.Spec.Name}}", id1)).trim(), v1, "the docker CLI sees it");

  const labelled = await swarm.listSecrets({ label: ["io.swarm-mtls.generation=10"] });
  t.same(labelled.filter((s) => s.name.startsWith(prefix)).map((s) => s.name), [v10], "label filter");

  const dup = await swarm.createSecret({ name: v1, data: Buffer.from("again") }).catch((e: unknown) => e);
  t.ok(isMtlsError(dup, "docker"));
  t.ok(isNameConflict(dup), "same name again is a name conflict");
  t.match((dup as Error).message, new RegExp(`^docker: create secret ${v1.replace(/\./g, "\\.")} failed: 409 .*already exists`));
  t.notMatch((dup as Error).message, /again|YWdhaW4/, "secret data never in the message");

  await swarm.removeSecret(id1);
  t.equal(await swarm.findSecret(v1), null);
  await swarm.removeSecret(id1); // not-found tolerated
  t.equal((await swarm.findSecret(v10))?.id, id10, "the other secret stays");
});

t.test("configs: data can be read back; exact name; remove", async (t) => {
  const name = `${prefix}.envoy.v1`;
  const yaml = Buffer.from("static_resources: {}\n");
  const id = await swarm.createConfig({ name, data: yaml, labels: { kind: "envoy" } });
  await swarm.createConfig({ name: `${name}0`, data: Buffer.from("other") });
  const c = await swarm.findConfig(name);
  t.equal(c?.id, id);
  t.equal(c?.data.toString(), yaml.toString());
  t.same(c?.labels, { kind: "envoy" });
  t.equal(await swarm.findConfig(`${prefix}.envoy.v`), null);
  t.ok((await swarm.listConfigs({ label: ["kind=envoy"] })).some((x) => x.id === id));
  await swarm.removeConfig(id);
  t.equal(await swarm.findConfig(name), null);
  await swarm.removeConfig(id);
});

t.test("inspecting a missing service is not-found", async (t) => {
  await t.rejects(swarm.inspectService(`${prefix}-missing`), { code: "not-found" });
});

t.test("events: secret create/remove are reported", async (t) => {
  const ac = new AbortController();
  const seen: string[] = [];
  let connected!: () => void;
  const open = new Promise<void>((r) => (connected = r));
  const watching = swarm.events({ types: ["secret"], signal: ac.signal, onConnected: () => connected() }, (e) => {
    if (e.name?.startsWith(prefix)) seen.push(`${e.action} ${e.name}`);
  });
  await open;
  const name = `${prefix}.evt`;
  const id = await swarm.createSecret({ name, data: Buffer.from("e") });
  await swarm.removeSecret(id);
  const deadline = Date.now() + 10_000;
  while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  await watching;
  t.same(seen, [`create ${name}`, `remove ${name}`]);
});

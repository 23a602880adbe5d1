import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lines, sandbox } from "./fixtures/cli-sandbox.js";

t.test("SWARM_MTLS_CA_KEY_ALGORITHM=foo: exit 2 naming ca.keyAlgorithm and foo", async (t) => {
  const s = sandbox(t);
  for (const cmd of [["init", "--trust-domain", "example.org"], ["issue", "web", "--out", join(s.dir, "out")], ["ca", "show"]]) {
    const r = await s.run(cmd, { env: { SWARM_MTLS_CA_KEY_ALGORITHM: "foo" } });
    t.equal(r.code, 2, `${cmd[0]}: exit 2`);
    t.equal(lines(r.stderr).length, 1, `${cmd[0]}: one line`);
    t.match(r.stderr, "ca.keyAlgorithm", `${cmd[0]}: names the field`);
    t.match(r.stderr, "foo", `${cmd[0]}: names the value`);
  }
  t.notOk(existsSync(s.stateFile), "no CA was made");
});

t.test("--config FILE with an unknown key: exit 2 naming it", async (t) => {
  const s = sandbox(t);
  const file = join(s.dir, "swarm-mtls.yaml");
  writeFileSync(file, "ca:\n  trustDomain: example.org\n  maxLeafTTL: 3d\n");
  const r = await s.run(["--config", file, "init"]);
  t.equal(r.code, 2);
  t.equal(lines(r.stderr).length, 1, "one line");
  t.match(r.stderr, "ca.maxLeafTTL", "names the unknown key with its path");
  t.notOk(existsSync(s.stateFile), "no CA was made");

  const top = join(s.dir, "top.yaml");
  writeFileSync(top, "trustDomain: example.org\n");
  const viaEnv = await s.run(["init"], { env: { SWARM_MTLS_CONFIG: top } });
  t.equal(viaEnv.code, 2, "SWARM_MTLS_CONFIG: exit 2");
  t.match(viaEnv.stderr, "trustDomain", "SWARM_MTLS_CONFIG: names the key");
});

t.test("config file errors name the field and the value", async (t) => {
  const s = sandbox(t);
  const cases: [string, RegExp[]][] = [
    ["leaf:\n  ttl: soon\n", [/leaf\.ttl/, /soon/]],
    ["rotation:\n  concurrency: 0\n", [/rotation\.concurrency/, /0/]],
    ["store: s3://bucket\n", [/store/, /s3:\/\/bucket/]],
    ["ca: [1, 2]\n", [/ca/]],
    ["{ not yaml", [/YAML/]],
  ];
  for (const [text, says] of cases) {
    const file = join(s.dir, "c.yaml");
    writeFileSync(file, text);
    const r = await s.run(["--config", file, "ca", "show"], { store: false });
    t.equal(r.code, 2, `${JSON.stringify(text)}: exit 2`);
    t.equal(lines(r.stderr).length, 1, `${JSON.stringify(text)}: one line`);
    for (const re of says) t.match(r.stderr, re, `${JSON.stringify(text)}: says ${re}`);
  }
  const missing = await s.run(["--config", join(s.dir, "nope.yaml"), "ca", "show"]);
  t.equal(missing.code, 2, "missing config file: exit 2");
  t.match(missing.stderr, /nope\.yaml/, "missing config file: names it");
});

t.test("settings come from the config file and the environment", async (t) => {
  const s = sandbox(t);
  const file = join(s.dir, "swarm-mtls.yaml");
  writeFileSync(file, `store: file:${s.data}\nca:\n  trustDomain: from-file.example\n  maxLeafTtl: 2d\nleaf:\n  ttl: 12h\n`);
  const init = await s.run(["--config", file, "init", "--json"], { store: false });
  t.equal(init.code, 0, "init with the file's settings");
  t.equal(JSON.parse(init.stdout).trustDomain, "from-file.example", "trust domain from the file");
  t.ok(existsSync(s.stateFile), "store from the file");

  const issued = await s.run(["issue", "web", "--out", join(s.dir, "out"), "--json"], {
    store: false,
    env: { SWARM_MTLS_CONFIG: file, SWARM_MTLS_LEAF_KEY_ALGORITHM: "ed25519" },
  });
  t.equal(issued.code, 0, "issue with SWARM_MTLS_CONFIG and SWARM_MTLS_LEAF_KEY_ALGORITHM");
  const j = JSON.parse(issued.stdout) as { keyAlgorithm: string; notBefore: string; notAfter: string; uris: string[] };
  t.equal(j.keyAlgorithm, "ed25519", "leaf algorithm from the environment");
  t.same(j.uris, ["spiffe://from-file.example/id/web"]);
  const hours = (Date.parse(j.notAfter) - Date.parse(j.notBefore)) / 3600_000;
  t.ok(hours > 12 && hours < 12.5, `leaf.ttl 12h from the file (${hours.toFixed(2)}h incl. backdating)`);

  const over = await s.run(["issue", "web", "--ttl", "3d", "--out", join(s.dir, "out2")], { store: false, env: { SWARM_MTLS_CONFIG: file } });
  t.equal(over.code, 2, "3d is over the 2d maximum chosen at init");
  t.match(over.stderr, /maximum/);
  t.match(over.stderr, /2d/);

  const envStore = await s.run(["ca", "show", "--json"], { store: false, env: { SWARM_MTLS_STORE: `file:${s.data}` } });
  t.equal(envStore.code, 0, "SWARM_MTLS_STORE selects the store");
  t.equal(JSON.parse(envStore.stdout).trustDomain, "from-file.example");
  t.ok(readFileSync(s.kekFile).length > 0);
});

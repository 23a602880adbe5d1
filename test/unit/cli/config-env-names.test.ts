import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lines, sandbox } from "./fixtures/cli-sandbox.js";

t.test("an unknown SWARM_MTLS_* variable is an error, like an unknown config key", async (t) => {
  const s = sandbox(t);
  const r = await s.run(["init", "--trust-domain", "example.org"], { env: { SWARM_MTLS_ROTATION_CONCURENCY: "2" } });
  t.equal(r.code, 2, "exit 2");
  t.equal(lines(r.stderr).length, 1, "one line");
  t.match(r.stderr, "unknown environment variable SWARM_MTLS_ROTATION_CONCURENCY", "names the variable");
  t.match(r.stderr, "did you mean SWARM_MTLS_ROTATION_CONCURRENCY?", "and the one meant");
  t.notOk(existsSync(s.stateFile), "no CA was made");
});

t.test("the SWARM_MTLS_* variables the project uses that are no settings are accepted", async (t) => {
  const s = sandbox(t);
  const file = join(s.dir, "c.yaml");
  writeFileSync(file, "ca:\n  trustDomain: example.org\n");
  const r = await s.run(["init"], {
    env: {
      SWARM_MTLS_CONFIG: file,
      SWARM_MTLS_TEST_DIR: s.dir,
      SWARM_MTLS_TEST_CRASH_AFTER: "rollout:none",
      SWARM_MTLS_NO_SANDBOX: "1",
      SWARM_MTLS_API_PORT: "18443",
      SWARM_MTLS_ROTATION_CONCURRENCY: "2",
      SWARM_MTLS_KEK_FILE: s.kekFile,
    },
  });
  t.equal(r.code, 0, `exit 0 (${r.stderr.trim()})`);
});

t.test("swarm object names fit Docker's 64 characters, with the .v<N> suffix", async (t) => {
  const s = sandbox(t);
  const cases: [Record<string, string>, RegExp[]][] = [
    [{ SWARM_MTLS_CA_STATE_NAME: `a${"b".repeat(53)}` }, [/caStateName/, /64 characters/, /\.v<N>/, /at most 53/]],
    [{ SWARM_MTLS_KEK_SECRET_NAME: `k${"e".repeat(64)}` }, [/kekSecretName/, /64 characters/]],
    [{ SWARM_MTLS_ROTATION_LEASE_NAME: `l${"o".repeat(64)}` }, [/rotation\.leaseName/, /64 characters/]],
    [{ SWARM_MTLS_ROTATION_LEASE_NAME: "lock-" }, [/rotation\.leaseName/, /'lock-'/, /ending with a letter or digit/]],
  ];
  for (const [env, says] of cases) {
    const r = await s.run(["init", "--trust-domain", "example.org"], { env });
    t.equal(r.code, 2, `${Object.keys(env)[0]}: exit 2`);
    t.equal(lines(r.stderr).length, 1, "one line");
    for (const re of says) t.match(r.stderr, re);
  }
  t.notOk(existsSync(s.stateFile), "no CA was made");
  const ok = await s.run(["init", "--trust-domain", "example.org"], { env: { SWARM_MTLS_CA_STATE_NAME: `a${"b".repeat(52)}`, SWARM_MTLS_KEK_SECRET_NAME: `k${"e".repeat(63)}` } });
  t.equal(ok.code, 0, `names of exactly the limit are accepted (${ok.stderr.trim()})`);
});

t.test("envoy check: one error is '1 error'; --out is refused", async (t) => {
  const s = sandbox(t);
  const file = join(s.dir, "envoy.yaml");
  writeFileSync(file, "admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: 9901 }\nnode:\n  idd: x\n");
  const r = await s.run(["envoy", "check", file], { store: false });
  t.equal(r.code, 1, `exit 1 on errors: ${r.stdout}`);
  t.match(r.stdout, /node\.idd/, "names the misspelt field");
  t.match(r.stdout, /: 1 error, 0 warnings$/m, "singular");
  const out = join(s.dir, "x.yaml");
  const o = await s.run(["envoy", "check", file, "--out", out], { store: false });
  t.equal(o.code, 2, "--out with check: exit 2");
  t.equal(lines(o.stderr).length, 1, "one line");
  t.match(o.stderr, /--out/);
  t.notOk(existsSync(out), "nothing written");
});

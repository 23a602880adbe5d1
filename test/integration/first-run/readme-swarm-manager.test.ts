/**
 * README "5 minutes" → "On a swarm manager", followed word for word on the sandbox swarm: the commands are read from
 * README.md (not a copy), run with `sh -c` in a fresh clone-like directory, from no CA to a labelled service's first
 * certificate, checked with OpenSSL. Only names change, so the test never meets the shared test CA or other tests:
 * the CA-state config and KEK secret names, the label prefix and the lease name come from SWARM_MTLS_* variables
 * (as scripts/test.sh does for its CA), the API port from SWARM_MTLS_API_LISTEN, and in the second block the service
 * `api` gets a unique name and the `busybox` image is the sandbox's.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { keyMaterialIn } from "../../helpers/cli.js";
import { cloneLike, readmeBlocks, readmeProse, startTyped, typed, type Running } from "../../helpers/readme.js";
import { docker, freePort, requireSwarmCli, sh, TEST_IMAGE, until } from "../../helpers/swarm-test.js";

const HEADING = "### On a swarm manager";

t.test("README, on a swarm manager: from a fresh clone to a running CA and a labelled service's first certificate", async (t) => {
  await requireSwarmCli();
  const [setup, service] = readmeBlocks(HEADING);
  t.ok(setup && service, "the section has its two shell blocks");
  if (!setup || !service) return;
  t.same(setup.slice(0, 2), ["git clone <this repository> swarm-mtls && cd swarm-mtls", "npm ci"], "block 1 starts with clone and npm ci");
  const start = setup[2] ?? "";
  t.equal(start, "npm start -- --init --trust-domain example.org", "block 1 ends with the first run");

  const tag = randomBytes(3).toString("hex");
  const caState = `mtls.fr${tag}.ca-state`;
  const kekSecret = `swarm-mtls-kek-fr${tag}`;
  const prefix = `fr${tag}.`;
  const name = `fr${tag}-api`;
  const port = await freePort("127.0.0.1");
  const env = {
    SWARM_MTLS_CA_STATE_NAME: caState,
    SWARM_MTLS_KEK_SECRET_NAME: kekSecret,
    SWARM_MTLS_LABEL_PREFIX: prefix,
    SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.fr${tag}`,
    SWARM_MTLS_API_LISTEN: `127.0.0.1:${port}`,
  };
  const parent = mkdtempSync(join(tmpdir(), "readme-manager-"));
  let serve: Running | null = null;
  t.teardown(async () => {
    await serve?.stop();
    await docker("service", "rm", name).catch(() => undefined);
    // Our service's secrets, our CA's trust bundles and KEK secret, our CA state: never anything else.
    for (const filter of [`label=io.swarm-mtls.identity=${name}`, `label=io.swarm-mtls.ca=${caState}`, `name=${kekSecret}`]) {
      const ids = (await docker("secret", "ls", "-q", "--filter", filter).catch(() => "")).split("\n").filter(Boolean);
      // A secret of a service being removed may still be in use for a moment.
      if (ids.length) await until(`removal of ${filter}`, 60_000, () => docker("secret", "rm", ...ids).then(() => true)).catch(() => undefined);
    }
    const configs = (await docker("config", "ls", "--format", "{{.Name}}").catch(() => "")).split("\n").filter((c) => c.startsWith(`${caState}.v`) || c === `mtls.lock.fr${tag}`);
    if (configs.length) await docker("config", "rm", ...configs).catch(() => undefined);
    rmSync(parent, { recursive: true, force: true });
  });

  // Block 1: the clone and npm ci (a clone-like copy of this checkout, see cloneLike), then the commands as typed.
  const clone = cloneLike(parent);
  // Without --init, `npm start` on a manager with no CA stops at once, and its advice is the README's command.
  const plain = await typed("npm start", clone, env);
  t.equal(plain.code, 2, "npm start without a CA: exit 2");
  t.match(plain.err, `\`${start}\``, "its advice is the README's first-run command, runnable as typed");

  serve = startTyped(start, clone, env);
  const running = serve;
  await until(`serve to start (log: ${running.log().slice(-1500)})`, 180_000, async () => {
    if (running.child.exitCode !== null) throw new Error(`npm start exited: ${running.log().slice(-1500)}`);
    return running.log().includes('"msg":"serving"') ? true : undefined;
  });
  t.match(running.log(), /no CA found: created one/, "the first run created the CA");
  const kek = statSync(join(clone, "data", "kek"));
  t.equal(kek.mode & 0o777, 0o400, "the key-encryption key file ./data/kek has mode 0400");
  t.equal((await docker("secret", "ls", "-q", "--filter", `name=${kekSecret}`)).trim().split("\n").filter(Boolean).length, 1, "the KEK secret is in the swarm");
  t.equal((await docker("config", "inspect", `${caState}.v1`, "--format", "{{.Spec.Name}}")).trim(), `${caState}.v1`, "the CA state config is in the swarm");

  // Block 2, with this test's names: the service `api` → a unique name, the mtls. label prefix → ours, busybox → the
  // sandbox's image. The first command waits for the service to converge (docker service create without -d).
  const ours = (line: string): string =>
    line.replace(/\bapi\b(?!\.)/g, name).replace(/--label mtls\./g, `--label ${prefix}`).replace(/ busybox /, ` ${TEST_IMAGE} `);
  const [create, inspect, ls, cert] = service.map(ours);
  t.ok(create?.startsWith(`docker service create --name ${name} --label ${prefix}enable=true`), `opt-in command: ${create}`);
  const created = await typed(create as string, clone, env);
  t.equal(created.code, 0, `docker service create: ${created.err}`);

  // "within seconds: one service update, the task is replaced": wait for that update to finish.
  await until(`${name} to get its certificate secrets (serve log: ${running.log().slice(-1500)})`, 180_000, async () => {
    const state = (await docker("service", "inspect", name, "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.File.Name}} {{end}}|{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}")).trim();
    const running = (await docker("service", "ps", name, "--filter", "desired-state=running", "--format", "{{.CurrentState}}")).trim();
    return /tls\.crt/.test(state) && /\|completed$/.test(state) && running.startsWith("Running") ? true : undefined;
  });

  const secrets = await typed(inspect as string, clone, env);
  t.equal(secrets.code, 0, secrets.err);
  t.same(secrets.out.trim().split(/\s+/).sort(), ["ca.crt", "tls.crt", "tls.key"], "the service mounts tls.crt, tls.key and ca.crt");
  const files = await typed(ls as string, clone, env);
  t.equal(files.code, 0, files.err);
  t.same(files.out.trim().split(/\s+/).sort(), ["ca.crt", "tls.crt", "tls.key"], "the task has them in /run/secrets");
  const shown = await typed(cert as string, clone, env);
  t.equal(shown.code, 0, shown.err);
  const spiffe = /`(spiffe:\/\/example\.org\/id\/api)`/.exec(readmeProse(HEADING))?.[1];
  t.ok(spiffe, "the README names the SPIFFE ID the last line shows");
  t.match(shown.out, `URI:${(spiffe ?? "").replace(/\/api$/, `/${name}`)}`, "the last line shows the service's SPIFFE ID");
  t.match(shown.out, "DNS:api.example.org", "and the DNS name of its label");

  // The chain verifies against the trust bundle the service got (OpenSSL as the oracle).
  const task = (await docker("ps", "-lq", "-f", `label=com.docker.swarm.service.name=${name}`)).trim();
  writeFileSync(join(parent, "tls.crt"), await docker("exec", task, "cat", "/run/secrets/tls.crt"));
  writeFileSync(join(parent, "ca.crt"), await docker("exec", task, "cat", "/run/secrets/ca.crt"));
  const verified = await sh("openssl", ["verify", "-CAfile", join(parent, "ca.crt"), "-untrusted", join(parent, "tls.crt"), join(parent, "tls.crt")]);
  t.match(verified, /: OK/, "openssl verify: the certificate chains to the service's trust bundle");

  // `status` in the clone (KEK from ./data/kek) lists the service with its first generation.
  const status = await typed("node dist/src/cli/main.js status --json", clone, env);
  t.equal(status.code, 0, status.err);
  const report = JSON.parse(status.out) as { mode: string; trustDomain: string; services: { service: string; generation: number }[] };
  t.match(report, { mode: "swarm", trustDomain: "example.org", services: [{ service: name, generation: 1 }] }, "status lists the service at generation 1");

  // Later runs: the same command again creates nothing and serves with the CA that is there.
  await running.stop();
  serve = startTyped(start, clone, env);
  const again = serve;
  await until(`the second run to serve (log: ${again.log().slice(-1500)})`, 180_000, async () => {
    if (again.child.exitCode !== null) throw new Error(`npm start exited: ${again.log().slice(-1500)}`);
    return again.log().includes('"msg":"serving"') ? true : undefined;
  });
  t.match(again.log(), /already exists in swarm: --init creates nothing/, "the second --init says the CA exists");
  t.notMatch(again.log(), /created one/, "and creates nothing");
  const states = (await docker("config", "ls", "--format", "{{.Name}}")).split("\n").filter((c) => c.startsWith(`${caState}.v`));
  t.same(states, [`${caState}.v1`], "one CA state, still v1");
  t.equal(keyMaterialIn(running.log() + again.log() + shown.out, [join(clone, "data", "kek")]), null, "no key material in anything printed");
});

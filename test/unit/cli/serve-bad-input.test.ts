/**
 * `swarm-mtls serve` refuses bad input before anything starts or is written, with one line saying why and what to
 * do: a bad --listen, a bad schedule.cron (every command), plain HTTP on a non-loopback listener, a port in use,
 * and TLS on with a CA that cannot be loaded (never a silent fallback to plain HTTP). File store, no swarm needed.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import t from "tap";
import { freePort } from "../../helpers/swarm-test.js";
import { lines, listFiles, sandbox } from "./fixtures/cli-sandbox.js";


/** Does anything accept TCP connections on 127.0.0.1:port? */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

t.test("serve --listen nope on a fresh file store: exit 2, one line, no CA and no KEK written", async (t) => {
  const s = sandbox(t);
  const r = await s.run(["serve", "--listen", "nope"]);
  t.equal(r.code, 2, r.stderr);
  t.same(lines(r.stderr), ["swarm-mtls: --listen: 'nope' must be HOST:PORT (for example 127.0.0.1:8443)"]);
  t.same(listFiles(s.data), [], "nothing written under the store");
});

t.test("a bad schedule.cron: every command exits 2 naming the setting and the value, before anything starts", async (t) => {
  const s = sandbox(t);
  const env = { SWARM_MTLS_SCHEDULE_CRON: "every 5 minutes" };
  for (const cmd of [["serve", "--listen", "127.0.0.1:1"], ["init", "--trust-domain", "example.org"], ["ca", "show"], ["status"]]) {
    const r = await s.run(cmd, { env });
    t.equal(r.code, 2, `${cmd[0]}: exit 2`);
    t.same(lines(r.stderr), ["swarm-mtls: config: schedule.cron: 'every 5 minutes' is not a cron expression (example: '*/5 * * * *')"], `${cmd[0]}: one line`);
  }
  const file = join(s.dir, "c.yaml");
  writeFileSync(file, "schedule:\n  cron: '61 * * * *'\n");
  const r = await s.run(["--config", file, "serve"]);
  t.equal(r.code, 2, "from a config file too");
  t.match(r.stderr, "schedule.cron: '61 * * * *' is not a cron expression");
  t.same(listFiles(s.data), [], "nothing written under the store");
});

t.test("plain HTTP asked for on a non-loopback listener is refused: exit 2, one line saying what to do", async (t) => {
  const s = sandbox(t);
  const port = await freePort("127.0.0.1");
  const r = await s.run(["serve", "--no-tls", "--listen", `0.0.0.0:${port}`]);
  t.equal(r.code, 2, r.stderr);
  t.same(lines(r.stderr), [`swarm-mtls: --no-tls serves plain HTTP, which is only allowed on a loopback listener, not 0.0.0.0:${port}: listen on 127.0.0.1:${port} (--listen), or drop --no-tls to serve HTTPS`]);
  const viaEnv = await s.run(["serve"], { env: { SWARM_MTLS_API_TLS: "off", SWARM_MTLS_API_LISTEN: `0.0.0.0:${port}` } });
  t.equal(viaEnv.code, 2, "api.tls: off from the environment too");
  t.match(viaEnv.stderr, /^swarm-mtls: api\.tls: off serves plain HTTP/);
  t.same(listFiles(s.data), [], "nothing written under the store");
  t.notOk(await listening(port), "nothing listening");
});

t.test("the file store without TLS (api.tls auto) on 0.0.0.0 is refused: exit 2, nothing created, nothing listening", async (t) => {
  const s = sandbox(t);
  const port = await freePort("127.0.0.1");
  for (const run of [() => s.run(["serve", "--listen", `0.0.0.0:${port}`]), () => s.run(["serve"], { env: { SWARM_MTLS_API_LISTEN: `0.0.0.0:${port}` } })]) {
    const r = await run();
    t.equal(r.code, 2, r.stderr);
    t.same(lines(r.stderr), [
      `swarm-mtls: api.tls: auto serves plain HTTP on the file store (no swarm), which is only allowed on a loopback listener, not 0.0.0.0:${port}: listen on 127.0.0.1:${port} (--listen), or pass --tls (api.tls: on) to serve HTTPS with the file store's CA`,
    ]);
  }
  t.same(listFiles(s.data), [], "no CA and no KEK written");
  t.notOk(await listening(port), "nothing listening");
});

t.test("the port is already in use: exit 2, one line naming the address and what to do", async (t) => {
  const s = sandbox(t);
  const blocker = createServer(() => undefined);
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as { port: number }).port;
  const r = await s.run(["serve", "--no-tls", "--listen", `127.0.0.1:${port}`]);
  t.equal(r.code, 2, r.stderr);
  t.same(lines(r.stderr).filter((l) => l.startsWith("swarm-mtls:")), [
    `swarm-mtls: cannot listen on 127.0.0.1:${port}: the address is already in use (another swarm-mtls serve?); stop that process or choose another port with --listen`,
  ]);
  t.notMatch(r.stderr, /unexpected error/);
});

t.test("TLS on and the CA cannot be opened (wrong KEK): exits non-zero saying so, never serves plain HTTP", async (t) => {
  const s = sandbox(t);
  await s.init();
  const before = listFiles(s.data);
  const wrongKek = join(s.dir, "wrong-kek");
  writeFileSync(wrongKek, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  s.secretFiles.push(wrongKek);
  const port = await freePort("127.0.0.1");
  const r = await s.run(["serve", "--tls", "--listen", `127.0.0.1:${port}`, "--kek-file", wrongKek]);
  t.equal(r.code, 2, `exit 2 (key-encryption key): ${r.stderr}`);
  const errors = lines(r.stderr).filter((l) => l.startsWith("swarm-mtls:"));
  t.equal(errors.length, 1, "one error line");
  t.match(errors[0], /^swarm-mtls: TLS is on but the CA cannot be loaded, so the API is not started \(no fallback to plain HTTP\): .*key-encryption key/);
  t.notMatch(r.stderr, /"msg":"serving"/, "never logged that it serves");
  t.notOk(await listening(port), "nothing listening on the port");
  t.same(listFiles(s.data), before, "the store is unchanged");
});

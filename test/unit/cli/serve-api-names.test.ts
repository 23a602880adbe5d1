/**
 * `serve` over HTTPS answers to the names operators call it by: api.names (SWARM_MTLS_API_NAMES, as the production
 * stack file sets from `{{.Node.Hostname}}`) puts DNS names and IP addresses into the API's certificate, which a
 * client verifying against the CA's root accepts under those names. A bad entry is refused before anything starts.
 * File store, no swarm needed.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:tls";
import { join } from "node:path";
import t from "tap";
import { assertServeRuns, spawnServe } from "../../helpers/serve-process.js";
import { freePort } from "../../helpers/swarm-test.js";
import { sandbox } from "./fixtures/cli-sandbox.js";

/** Connects to 127.0.0.1:port as `servername`, verifying the certificate for that name against `ca`. */
function handshake(port: number, servername: string, ca: string): Promise<{ ok: boolean; error?: string; san?: string }> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port, servername, ca }, () => {
      const san = s.getPeerCertificate().subjectaltname;
      s.end();
      resolve({ ok: true, san });
    });
    s.on("error", (e: NodeJS.ErrnoException) => resolve({ ok: false, error: e.code ?? e.message }));
  });
}

t.test("serve --tls with api.names: the certificate names them, verified by Node's TLS under each name", async (t) => {
  const s = sandbox(t);
  await s.init();
  const r = await s.run(["issue", "probe", "--out", join(s.dir, "probe")]);
  t.equal(r.code, 0, r.stderr);
  const ca = readFileSync(join(s.dir, "probe", "ca.crt"), "utf8");
  const port = await freePort("127.0.0.1");
  const serve = spawnServe(["--tls", "--listen", `127.0.0.1:${port}`, "--store", `file:${s.data}`], { SWARM_MTLS_API_NAMES: "Manager-1,ca.example.test,192.0.2.7" });
  t.teardown(() => serve.kill());
  let first = await handshake(port, "manager-1", ca);
  for (let i = 0; !first.ok && first.error === "ECONNREFUSED" && i < 600; i++) {
    assertServeRuns(serve);
    await new Promise((res) => setTimeout(res, 100));
    first = await handshake(port, "manager-1", ca);
  }
  t.same(first.ok, true, `the node's host name (given as Manager-1): verified ${first.error ?? ""}`);
  t.match(first.san, /DNS:localhost, .*DNS:manager-1, DNS:ca\.example\.test, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192\.0\.2\.7/);
  t.same((await handshake(port, "ca.example.test", ca)).ok, true, "ca.example.test: verified");
  t.same(await handshake(port, "other.example.test", ca), { ok: false, error: "ERR_TLS_CERT_ALTNAME_INVALID" }, "a name not listed: refused by the client");
});

t.test("serve refuses an api.names entry that is neither a DNS name nor an IP: exit 2, nothing listening", async (t) => {
  const s = sandbox(t);
  await s.init();
  const port = await freePort("127.0.0.1");
  const serve = spawnServe(["--tls", "--listen", `127.0.0.1:${port}`, "--store", `file:${s.data}`], { SWARM_MTLS_API_NAMES: "ok.example,bad_name.example" });
  t.teardown(() => serve.kill());
  const exit = await serve.exited;
  t.equal(exit.code, 2, serve.log());
  t.match(serve.log(), "api.names: 'bad_name.example' is neither a DNS name nor an IP address");
});

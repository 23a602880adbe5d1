/**
 * Admin client certificates: `issue NAME --admin` gives `spiffe://<td>/admin/NAME` and nothing else; `serve` over
 * HTTPS grants admin to that certificate when NAME is in api.adminIdentities, and never to a workload certificate
 * whose CN is NAME (CNs come from labels anyone creating a service sets). File store, no swarm needed.
 */
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import t from "tap";
import { spawnServe, assertServeRuns } from "../../helpers/serve-process.js";
import { freePort } from "../../helpers/swarm-test.js";
import { lines, openssl, sandbox } from "./fixtures/cli-sandbox.js";

t.test("issue --admin: the admin SPIFFE ID only; admin IDs are refused everywhere else", async (t) => {
  const s = sandbox(t);
  await s.init();
  const r = await s.run(["issue", "alice", "--admin", "--out", join(s.dir, "alice"), "--json"]);
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { identity: "alice", uris: ["spiffe://example.org/admin/alice"], dnsNames: [] });
  const san = openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", join(s.dir, "alice", "tls.crt")]);
  t.match(san, /URI:spiffe:\/\/example\.org\/admin\/alice\s*$/, "openssl: one URI SAN, the admin ID");
  t.match(openssl(["verify", "-CAfile", join(s.dir, "alice", "ca.crt"), "-untrusted", join(s.dir, "alice", "tls.crt"), join(s.dir, "alice", "tls.crt")]), /OK/);

  for (const [args, says] of [
    [["alice", "--admin", "--dns", "alice.example.org"], /--admin: an admin certificate carries only spiffe:\/\/<td>\/admin\/<identity>; drop --dns, --uri and --stack/],
    [["alice", "--admin", "--stack", "ops"], /drop --dns, --uri and --stack/],
    [["web", "--uri", "spiffe://example.org/admin/web"], /--uri: 'spiffe:\/\/example\.org\/admin\/web' would be a second SPIFFE ID/],
  ] as const) {
    const bad = await s.run(["issue", ...args, "--out", join(s.dir, "bad")]);
    t.equal(bad.code, 2, `${args.join(" ")}: exit 2`);
    t.equal(lines(bad.stderr).length, 1, "one line");
    t.match(bad.stderr, says);
  }
});

function post(port: number, ca: string, client: { cert: string; key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, servername: "localhost", method: "POST", path: "/v1/rotate", ca, ...client, headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(JSON.stringify({ dryRun: true }));
  });
}

t.test("serve grants admin to the admin certificate of a listed name, not to a workload with that CN", async (t) => {
  const s = sandbox(t);
  await s.init();
  for (const [dir, args] of [["alice-admin", ["alice", "--admin"]], ["alice", ["alice"]], ["bob-admin", ["bob", "--admin"]]] as const) {
    const r = await s.run(["issue", ...args, "--out", join(s.dir, dir)]);
    t.equal(r.code, 0, r.stderr);
  }
  const client = (d: string) => ({ cert: readFileSync(join(s.dir, d, "tls.crt"), "utf8"), key: readFileSync(join(s.dir, d, "tls.key"), "utf8") });
  const ca = readFileSync(join(s.dir, "alice", "ca.crt"), "utf8");
  const port = await freePort("127.0.0.1");
  const serve = spawnServe(["--tls", "--listen", `127.0.0.1:${port}`, "--store", `file:${s.data}`], { SWARM_MTLS_API_ADMIN_IDENTITIES: "alice" });
  t.teardown(() => serve.kill());
  for (let i = 0; ; i++) {
    assertServeRuns(serve);
    const up = await post(port, ca, client("alice-admin")).catch(() => 0);
    if (up !== 0) break;
    if (i > 600) throw new Error(`serve did not answer: ${serve.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(await post(port, ca, client("alice-admin")), 200, "alice's admin certificate: admin");
  t.equal(await post(port, ca, client("alice")), 401, "a workload certificate with CN alice: refused");
  t.equal(await post(port, ca, client("bob-admin")), 401, "an admin certificate of a name not listed: refused");
  t.notMatch(serve.log(), /PRIVATE KEY/);
});

t.test("serve refuses api.adminIdentities that are not admin names or admin IDs: exit 2, before listening", async (t) => {
  const s = sandbox(t);
  await s.init();
  const port = await freePort("127.0.0.1");
  const serve = spawnServe(["--tls", "--listen", `127.0.0.1:${port}`, "--store", `file:${s.data}`], { SWARM_MTLS_API_ADMIN_IDENTITIES: "spiffe://example.org/id/web" });
  t.teardown(() => serve.kill());
  const exit = await serve.exited;
  t.equal(exit.code, 2, serve.log());
  t.match(serve.log(), "api.adminIdentities: 'spiffe://example.org/id/web' is not an admin SPIFFE ID of this CA (spiffe://example.org/admin/<name>)");
});

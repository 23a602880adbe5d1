/**
 * Embedded mode follows the config as swarm mode follows labels: the built `serve --once` on a file store, run again
 * after an identity's TTL and then its key algorithm changed in the config, re-issues it with reason
 * `settings-changed` (logged with the new generation); a run with an unchanged config re-issues nothing.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { keyMaterialIn, runCli } from "../../helpers/cli.js";
import { freePort } from "../../helpers/swarm-test.js";

t.test("changing an identity's TTL or key algorithm in the config re-issues it in embedded mode (settings-changed)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "serve-embedded-settings-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, "data");
  const web = join(data, "certs", "web");
  const serveOnce = async (settings: string) => {
    writeFileSync(join(dir, "config.yaml"), ["identities:", "  - name: web", "    dns: [web.local]", ...settings.split("\n").filter(Boolean).map((l) => `    ${l}`), ""].join("\n"));
    const port = await freePort("127.0.0.1");
    const run = await runCli(["serve", "--once", "--config", join(dir, "config.yaml"), "--store", `file:${data}`, "--no-tls", "--listen", `127.0.0.1:${port}`], {
      env: { SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *", SWARM_MTLS_LOG_LEVEL: "info" },
      timeoutMs: 120_000,
    });
    t.equal(run.code, 0, `serve --once exits 0 (${run.stderr.slice(-300)})`);
    t.equal(keyMaterialIn(run.stdout + run.stderr, [join(data, "kek")]), null, "no key material in the log");
    const lines = (run.stdout + run.stderr).split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { changes: lines.filter((l) => l.result === "rotated" && l.identity === "web"), cert: new X509Certificate(readFileSync(join(web, "tls.crt"))) };
  };
  const lifetime = (c: X509Certificate) => (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 1000 - 60;

  const first = await serveOnce("ttl: 1h");
  t.match(first.changes, [{ reason: "no-certificate", generation: { from: null, to: 1 } }]);
  t.equal(lifetime(first.cert), 3600);
  t.equal(first.cert.publicKey.asymmetricKeyType, "ec");

  const ttl = await serveOnce("ttl: 2h");
  t.match(ttl.changes, [{ reason: "settings-changed", generation: { from: 1, to: 2 } }], "a new TTL: re-issued, the log says why");
  t.equal(readlinkSync(join(web, "current")), "g2");
  t.equal(lifetime(ttl.cert), 7200, "the new certificate has the new lifetime");

  const alg = await serveOnce("ttl: 2h\nkeyAlgorithm: ed25519");
  t.match(alg.changes, [{ reason: "settings-changed", generation: { from: 2, to: 3 } }], "a new key algorithm: re-issued");
  t.equal(alg.cert.publicKey.asymmetricKeyType, "ed25519", "the new key is Ed25519");

  const again = await serveOnce("ttl: 2h\nkeyAlgorithm: ed25519");
  t.same(again.changes, [], "the same config again: nothing re-issued");
  t.equal(readlinkSync(join(web, "current")), "g3");
});

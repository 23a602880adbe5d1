/**
 * SDS against the real `serve` (embedded mode, file store, no Swarm needed), with a gRPC client built from Envoy's
 * protos that behaves like Envoy, over real mTLS:
 * - subscribe to its own working certificate and the trust bundle, ACK, and get new certificates pushed on the open
 *   stream (fresh key each time), each verifying with OpenSSL against the pushed bundle;
 * - NACK a response: the server keeps the stream and sends the next version only;
 * - isolation: another identity's secret, an identity not opted in, a wildcard request, no client certificate, a
 *   foreign CA, a self-signed and an expired certificate are all refused;
 * - a new intermediate written into the CA state file by another writer: serve reads it when the file changes (its
 *   schedule never fires) and the open stream gets a working certificate from it;
 * - serve killed and restarted: the client reconnects and gets a valid certificate;
 * - one audit record per working certificate, and no key material in serve's log.
 *
 * Working certificates live 20 s here: the test lowers the 5-minute floor with SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL
 * (a variable only tests set), on the real clock.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { createAuthority, createIntermediateCa, issueLeaf, openAuthority, sealAuthority } from "../../../src/ca/index.js";
import { readKekFile } from "../../../src/store/kek-file.js";
import { keyMaterialIn } from "../../helpers/cli.js";
import { assertServeRuns, spawnServe, untilServeSays, type ServeProcess } from "../../helpers/serve-process.js";
import { fetchSecrets, streamSecrets, type SdsClientTls } from "../../helpers/sds-client.js";
import { freePorts, until } from "../../helpers/swarm-test.js";

const TD = "swarm.local";
const WEB = `spiffe://${TD}/id/web`;
const API = `spiffe://${TD}/id/api`;
const BUNDLE = `spiffe://${TD}`;

/** `openssl verify` of a pushed chain against a pushed bundle, at `at` (ms; the moment it was received). */
function opensslVerify(dir: string, bundle: string, chain: string, at = Date.now()): string {
  writeFileSync(join(dir, "v-bundle.pem"), bundle);
  writeFileSync(join(dir, "v-chain.pem"), chain);
  const leaf = new X509Certificate(chain).toString();
  writeFileSync(join(dir, "v-leaf.pem"), leaf);
  return execFileSync("openssl", ["verify", "-attime", String(Math.floor(at / 1000)), "-CAfile", join(dir, "v-bundle.pem"), "-untrusted", join(dir, "v-chain.pem"), join(dir, "v-leaf.pem")], { encoding: "utf8" }).trim();
}

t.test("serve --sds: Envoy-like client over mTLS, pushes, ACK/NACK, isolation, reconnect", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sds-embedded-"));
  const data = join(dir, "data");
  writeFileSync(join(dir, "config.yaml"), [
    "identities:",
    "  - { name: web, dns: [web.local], sds: true }",
    "  - { name: api, dns: [api.local], sds: true }",
    "  - { name: plain, dns: [plain.local] }",
    "sds: { enabled: true, workingTtl: 20s }",
    "",
  ].join("\n"));
  const [apiPort, sdsPort] = await freePorts(2, "127.0.0.1");
  const env = { SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *", SWARM_MTLS_LOG_LEVEL: "info", SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL: "10" };
  const args = ["--config", join(dir, "config.yaml"), "--store", `file:${data}`, "--no-tls", "--listen", `127.0.0.1:${apiPort}`, "--sds-listen", `127.0.0.1:${sdsPort}`];
  let serve: ServeProcess = spawnServe(args, env);
  let logs = "";
  t.teardown(async () => {
    await serve.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const address = `127.0.0.1:${sdsPort}`;
  const files = (id: string) => join(data, "certs", id);
  await until(`bootstrap certificates written (log: ${serve.log().slice(-800)})`, 120_000, async () => {
    assertServeRuns(serve);
    try {
      return readFileSync(join(files("web"), "tls.crt"), "utf8") && readFileSync(join(files("plain"), "tls.crt"), "utf8") && serve.log().includes("SDS serving") ? true : undefined;
    } catch {
      return undefined;
    }
  });
  const tlsOf = (id: string): SdsClientTls => ({ ca: readFileSync(join(files(id), "ca.crt"), "utf8"), cert: readFileSync(join(files(id), "tls.crt"), "utf8"), key: readFileSync(join(files(id), "tls.key"), "utf8") });
  const web = tlsOf("web");

  await t.test("subscribe, ACK, and three pushes of a fresh certificate on the same stream", async (t) => {
    const c = streamSecrets(address, web, [WEB, BUNDLE]);
    t.teardown(() => c.close());
    await until(`4 responses on one stream (errors: ${JSON.stringify(c.errors)})`, 120_000, async () => (c.accepted.length >= 4 ? true : undefined));
    t.equal(c.opens, 1, "one stream, never reopened");
    t.same(c.errors, [], "no stream error");
    const serials = new Set<string>();
    const keys = new Set<string>();
    for (const r of c.accepted.slice(0, 4)) {
      const cert = r.resources.find((x) => x.name === WEB)?.tls_certificate;
      const bundle = r.resources.find((x) => x.name === BUNDLE)?.validation_context?.trusted_ca.inline_bytes.toString();
      t.ok(cert && bundle, "both secrets in every response");
      if (!cert || !bundle) continue;
      const chain = cert.certificate_chain.inline_bytes.toString();
      const x = new X509Certificate(chain);
      t.match(x.subjectAltName, new RegExp(`URI:${WEB}`), "the working certificate carries the caller's SPIFFE ID");
      t.ok(x.checkPrivateKey(createPrivateKey(cert.private_key.inline_bytes)), "key and certificate match");
      const life = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 1000;
      t.ok(life <= 20 + 60, `short-lived (${life}s incl. the 60 s skew allowance)`);
      t.match(opensslVerify(dir, bundle, chain, r.at), /: OK$/, "OpenSSL verifies the pushed certificate against the pushed bundle");
      serials.add(x.serialNumber);
      keys.add(createPublicKey(createPrivateKey(cert.private_key.inline_bytes)).export({ type: "spki", format: "der" }).toString("hex"));
    }
    t.equal(serials.size, 4, "4 different certificates");
    t.equal(keys.size, 4, "a fresh key each time");
    t.equal(new Set(c.accepted.map((r) => r.version)).size, c.accepted.length, "every push has a new version_info");
  });

  await t.test("a NACKed response is not sent again; the next version is, and is ACKed", async (t) => {
    let first = true;
    const c = streamSecrets(address, web, [WEB], { judge: () => (first ? ((first = false), "test: rejecting the first response") : null) });
    t.teardown(() => c.close());
    await until("a response ACKed after the NACK", 60_000, async () => (c.accepted.length >= 1 ? true : undefined));
    t.equal(c.nacked.length, 1, "one NACK");
    t.not(c.accepted[0]?.nonce, c.nacked[0], "the accepted response is a later one");
    const metrics = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
    t.match(metrics, /swarm_mtls_sds_responses_total\{kind="nack"\} [1-9]/, "the NACK is counted");
    t.match(metrics, /swarm_mtls_sds_streams\{identity="web"\} [1-9]/, "streams per identity");
    t.match(metrics, /swarm_mtls_sds_working_certificate_expiry_seconds\{identity="web"\}/);
  });

  await t.test("FetchSecrets answers the caller's own secrets", async (t) => {
    const r = await fetchSecrets(address, web, [WEB, BUNDLE]);
    t.same(r.resources.map((x) => x.name).sort(), [BUNDLE, WEB].sort());
    t.equal(r.type_url, "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret");
  });

  await t.test("isolation: everything but the caller's own two secrets is refused", async (t) => {
    const refused = async (what: string, tls: SdsClientTls, names: string[], code: RegExp) => {
      const e = await fetchSecrets(address, tls, names).then(() => null, (err: { code: number; details: string }) => err);
      t.ok(e, `${what}: refused`);
      t.match(`${e?.code} ${e?.details}`, code, `${what}: ${e?.code} ${e?.details}`);
      const s = streamSecrets(address, tls, names);
      await until(`${what}: stream refused`, 30_000, async () => (s.errors.length > 0 || s.accepted.length > 0 ? true : undefined));
      s.close();
      t.same(s.accepted, [], `${what}: nothing sent on the stream`);
    };
    await refused("web asks for api's certificate", web, [API], /^7 .*may fetch only/);
    await refused("web asks for its own and api's", web, [WEB, API], /^7 /);
    await refused("wildcard", web, [], /^3 .*wildcard/);
    await refused("an identity not opted in to SDS", tlsOf("plain"), [`spiffe://${TD}/id/plain`], /^7 .*not opted in/);
    await refused("no client certificate", { ca: web.ca }, [WEB], /^14 /);

    const foreign = (await createAuthority({ trustDomain: TD })).authority;
    const f = await issueLeaf(foreign, { identity: "web", uris: [WEB], ttlSeconds: 3600 });
    await refused("a certificate of a foreign CA with the same SPIFFE ID", { ca: web.ca, cert: f.chainPem, key: f.keyPem as string }, [WEB], /^14 /);

    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=web", "-addext", `subjectAltName=URI:${WEB}`, "-days", "1", "-keyout", join(dir, "ss.key"), "-out", join(dir, "ss.crt")], { stdio: "ignore" });
    await refused("a self-signed certificate", { ca: web.ca, cert: readFileSync(join(dir, "ss.crt"), "utf8"), key: readFileSync(join(dir, "ss.key"), "utf8") }, [WEB], /^14 /);

    const ours = await openAuthority(readFileSync(join(data, "ca-state.json"), "utf8"), await readKekFile(join(data, "kek")));
    const old = await issueLeaf(ours, { identity: "web", uris: [WEB], ttlSeconds: 300, now: new Date(Date.now() - 3600_000) });
    await refused("an expired certificate of this CA", { ca: web.ca, cert: old.chainPem, key: old.keyPem as string }, [WEB], /^14 /);
  });

  await t.test("a new intermediate in the state file: the open stream gets its certificate, read when the file changed", async (t) => {
    const c = streamSecrets(address, web, [WEB, BUNDLE]);
    t.teardown(() => c.close());
    await until("first response", 60_000, async () => (c.accepted.length >= 1 ? true : undefined));
    const issuerOf = (r: (typeof c.accepted)[number] | undefined): string => {
      const chain = r?.resources.find((x) => x.name === WEB)?.tls_certificate?.certificate_chain.inline_bytes.toString() ?? "";
      return new X509Certificate(chain).issuer;
    };
    const before = issuerOf(c.accepted[0]);
    const seen = c.accepted.length;
    // Another writer of the state file (rotate-ca is the swarm's; here the file gets what its intermediate rotation
    // writes: a new intermediate under the same root), with serve's schedule never firing.
    const kek = await readKekFile(join(data, "kek"));
    const a = await openAuthority(readFileSync(join(data, "ca-state.json"), "utf8"), kek);
    const next = await createIntermediateCa({ signer: a.roots[0] as NonNullable<(typeof a.roots)[0]>, ttlSeconds: 30 * 86400, name: a.name });
    writeFileSync(join(data, "ca-state.json.tmp"), sealAuthority({ ...a, intermediate: next }, kek), { mode: 0o600 });
    renameSync(join(data, "ca-state.json.tmp"), join(data, "ca-state.json"));
    const fresh = await until(`a certificate from the new intermediate (errors: ${JSON.stringify(c.errors)})`, 60_000, async () => c.accepted.slice(seen).find((r) => issuerOf(r) !== before));
    const bundle = fresh.resources.find((x) => x.name === BUNDLE)?.validation_context?.trusted_ca.inline_bytes.toString() ?? "";
    t.match(opensslVerify(dir, bundle, fresh.resources.find((x) => x.name === WEB)?.tls_certificate?.certificate_chain.inline_bytes.toString() ?? "", fresh.at), /: OK$/, "it verifies with OpenSSL against the bundle pushed with it");
    t.equal(c.opens, 1, "on the open stream");
    // serve's log reaches the pipe in batches: waited for, not read once.
    const said = await untilServeSays(serve, "the CA state changed in the store; reading it now", 30_000).then(() => true, () => false);
    t.ok(said, "serve read the state file when it changed (its schedule never fires)");
  });

  await t.test("serve killed and started again: the client reconnects and gets a valid certificate", async (t) => {
    const c = streamSecrets(address, web, [WEB, BUNDLE], { reconnect: true, reconnectMs: 300 });
    t.teardown(() => c.close());
    await until("first response", 60_000, async () => (c.accepted.length >= 1 ? true : undefined));
    const before = c.accepted.length;
    logs += serve.log();
    await serve.kill();
    serve = spawnServe(args, env);
    await until(`a response after the restart (errors: ${JSON.stringify(c.errors.slice(-2))})`, 120_000, async () => {
      assertServeRuns(serve);
      return c.accepted.length > before ? true : undefined;
    });
    t.ok(c.opens >= 2, "the stream was opened again");
    const r = c.accepted[c.accepted.length - 1];
    const cert = r?.resources.find((x) => x.name === WEB)?.tls_certificate;
    const bundle = r?.resources.find((x) => x.name === BUNDLE)?.validation_context?.trusted_ca.inline_bytes.toString() ?? "";
    t.match(opensslVerify(dir, bundle, cert?.certificate_chain.inline_bytes.toString() ?? ""), /: OK$/);
  });

  await t.test("audit: one record per working certificate, and no key material anywhere in the log", async (t) => {
    const all = logs + serve.log();
    const records = all.split("\n").filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.event === "sds-issue");
    t.ok(records.length >= 5, `working certificates audited (${records.length})`);
    t.equal(new Set(records.map((r) => r.serial)).size, records.length, "one record per certificate");
    t.match(records[0], { event: "sds-issue", identity: "web", result: "ok" });
    t.equal(keyMaterialIn(all, [join(data, "kek")]), null, "no private key nor KEK in serve's log");
  });
});

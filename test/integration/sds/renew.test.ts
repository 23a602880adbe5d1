/**
 * POST /v1/renew against the real `serve` (embedded mode, file store, HTTPS API, SDS on), driven by the README's own
 * `openssl` and `curl` lines as a workload would type them:
 * - the bootstrap certificate renews into a certificate for the same identity, the CSR's key, the working lifetime,
 *   that `openssl verify` accepts against the bundle; the renewed certificate renews itself again;
 * - refused with nothing signed: no client certificate, a foreign CA, a self-signed and an expired certificate (401),
 *   an identity not opted in to SDS (403), a CSR asking for another identity's name (400);
 * - one audit record per renewal, and no key material in serve's log.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { createAuthority, issueLeaf, openAuthority } from "../../../src/ca/index.js";
import { readKekFile } from "../../../src/store/kek-file.js";
import { keyMaterialIn } from "../../helpers/cli.js";
import { readmeBlocks, typed } from "../../helpers/readme.js";
import { assertServeRuns, spawnServe } from "../../helpers/serve-process.js";
import { freePorts, until } from "../../helpers/swarm-test.js";

const TD = "swarm.local";
const WEB = `spiffe://${TD}/id/web`;
const HEADING = "### Renewing without Envoy: `POST /v1/renew`";

t.test("POST /v1/renew with curl and openssl, as the README says", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sds-renew-"));
  const data = join(dir, "data");
  writeFileSync(join(dir, "config.yaml"), [
    "identities:",
    "  - { name: web, dns: [web.local], sds: true }",
    "  - { name: plain, dns: [plain.local] }",
    "sds: { enabled: true, workingTtl: 10m }",
    "",
  ].join("\n"));
  const [apiPort, sdsPort] = await freePorts(2, "127.0.0.1");
  const serve = spawnServe(
    ["--config", join(dir, "config.yaml"), "--store", `file:${data}`, "--tls", "--listen", `127.0.0.1:${apiPort}`, "--sds-listen", `127.0.0.1:${sdsPort}`],
    { SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *", SWARM_MTLS_LOG_LEVEL: "info" },
  );
  t.teardown(async () => {
    await serve.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const certs = (id: string) => join(data, "certs", id);
  await until(`bootstrap certificates written and SDS up (log: ${serve.log().slice(-800)})`, 120_000, async () => {
    assertServeRuns(serve);
    try {
      return readFileSync(join(certs("web"), "tls.crt"), "utf8") && readFileSync(join(certs("plain"), "tls.crt"), "utf8") && serve.log().includes("SDS serving") ? true : undefined;
    } catch {
      return undefined;
    }
  });
  const url = `https://localhost:${apiPort}`;
  const blocks = readmeBlocks(HEADING);
  t.equal(blocks.length, 2, "the README has the copy block and the renewal block");
  const [copy, renewal] = blocks as [string[], string[]];

  /** The workload's directory: the README's lines run there with SECRETS and CA_URL set. */
  const workload = (id: string): { dir: string; env: Record<string, string> } => {
    const w = mkdtempSync(join(dir, `app-${id}-`));
    return { dir: w, env: { SECRETS: certs(id), CA_URL: url } };
  };
  const run = async (lines: string[], w: { dir: string; env: Record<string, string> }) => {
    for (const line of lines) {
      const r = await typed(line, w.dir, w.env, 60_000);
      if (r.code !== 0) return { line, ...r };
    }
    return null;
  };

  await t.test("the bootstrap certificate renews, and the renewed one renews itself", async (t) => {
    const w = workload("web");
    t.equal(await run(copy, w), null, "the copy line runs");
    const bootstrap = new X509Certificate(readFileSync(join(w.dir, "cert.pem")));
    const serials = new Set([bootstrap.serialNumber]);
    for (const round of [1, 2]) {
      const failed = await run(renewal, w);
      t.equal(failed, null, `renewal ${round}: every README line succeeds ${failed ? JSON.stringify(failed) : ""}`);
      const pem = readFileSync(join(w.dir, "cert.pem"), "utf8");
      const x = new X509Certificate(pem);
      t.match(x.subjectAltName, new RegExp(`URI:${WEB}`), "same SPIFFE ID");
      t.match(x.subjectAltName, /DNS:web\.local/, "the identity's DNS names");
      t.notMatch(x.subject, /CN=renew/, "the CSR's subject is ignored");
      const life = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 1000;
      t.ok(life <= 600 + 60 && life >= 600, `the working lifetime (${life}s incl. the 60 s skew allowance)`);
      const certKey = execFileSync("openssl", ["x509", "-noout", "-pubkey", "-in", join(w.dir, "cert.pem")], { encoding: "utf8" });
      const ownKey = execFileSync("openssl", ["pkey", "-pubout", "-in", join(w.dir, "key.pem")], { encoding: "utf8" });
      t.equal(certKey, ownKey, "the certificate is for the key the workload generated");
      t.match(execFileSync("openssl", ["verify", "-CAfile", join(w.dir, "ca.pem"), "-untrusted", join(w.dir, "cert.pem"), join(w.dir, "cert.pem")], { encoding: "utf8" }), /: OK/, "openssl verify: OK");
      t.equal((pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 2, "certificate and intermediate");
      serials.add(x.serialNumber);
    }
    t.equal(serials.size, 3, "two new certificates");
  });

  /** curl with `--cert`/`--key` (or none), a CSR file; returns the HTTP status and body. */
  const curl = (w: string, p: { cert?: string; key?: string; csr: string }): { status: number; body: string } => {
    const args = ["-sS", "-o", join(w, "out"), "-w", "%{http_code}", "--cacert", join(certs("web"), "ca.crt"), "-H", "content-type: application/x-pem-file", "--data-binary", `@${p.csr}`];
    if (p.cert && p.key) args.push("--cert", p.cert, "--key", p.key);
    const status = Number(execFileSync("curl", [...args, `${url}/v1/renew`], { encoding: "utf8" }));
    return { status, body: readFileSync(join(w, "out"), "utf8") };
  };
  const csr = (w: string, name: string, addext: string[] = []): string => {
    execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=x", "-keyout", join(w, `${name}.key`), "-out", join(w, `${name}.csr`), ...addext.flatMap((e) => ["-addext", e])], { stdio: "ignore" });
    return join(w, `${name}.csr`);
  };
  const pemFiles = (w: string, name: string, chain: string, key: string) => {
    writeFileSync(join(w, `${name}.crt`), chain);
    writeFileSync(join(w, `${name}.pem`), key);
    return { cert: join(w, `${name}.crt`), key: join(w, `${name}.pem`) };
  };

  await t.test("refused, nothing signed", async (t) => {
    const w = mkdtempSync(join(dir, "refused-"));
    const plainCsr = csr(w, "plain");
    const refused = (what: string, r: { status: number; body: string }, status: number, detail: RegExp) => {
      t.equal(r.status, status, `${what}: ${status}`);
      t.match(r.body, detail, `${what}: ${r.body.slice(0, 300)}`);
      t.notMatch(r.body, /BEGIN CERTIFICATE/, `${what}: no certificate`);
    };
    refused("no client certificate", curl(w, { csr: plainCsr }), 401, /client certificate/);

    const foreign = (await createAuthority({ trustDomain: TD })).authority;
    const f = await issueLeaf(foreign, { identity: "web", uris: [WEB], dnsNames: ["web.local"], ttlSeconds: 3600 });
    refused("a foreign CA with the same SPIFFE ID", curl(w, { ...pemFiles(w, "foreign", f.chainPem, f.keyPem as string), csr: plainCsr }), 401, /does not chain to this CA/);

    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=web", "-addext", `subjectAltName=URI:${WEB}`, "-days", "1", "-keyout", join(w, "ss.key"), "-out", join(w, "ss.crt")], { stdio: "ignore" });
    refused("a self-signed certificate", curl(w, { cert: join(w, "ss.crt"), key: join(w, "ss.key"), csr: plainCsr }), 401, /self-signed|does not chain/);

    const ours = await openAuthority(readFileSync(join(data, "ca-state.json"), "utf8"), await readKekFile(join(data, "kek")));
    const old = await issueLeaf(ours, { identity: "web", uris: [WEB], dnsNames: ["web.local"], ttlSeconds: 300, now: new Date(Date.now() - 3600_000) });
    refused("an expired certificate of this CA", curl(w, { ...pemFiles(w, "expired", old.chainPem, old.keyPem as string), csr: plainCsr }), 401, /expired/);

    refused("an identity not opted in to SDS", curl(w, { cert: join(certs("plain"), "tls.crt"), key: join(certs("plain"), "tls.key"), csr: plainCsr }), 403, /not opted in/);

    const web = { cert: join(certs("web"), "tls.crt"), key: join(certs("web"), "tls.key") };
    refused("a CSR asking for another identity's name", curl(w, { ...web, csr: csr(w, "other", ["subjectAltName=DNS:plain.local"]) }), 400, /plain\.local/);
    refused("a CSR asking for another SPIFFE ID", curl(w, { ...web, csr: csr(w, "otherid", [`subjectAltName=URI:spiffe://${TD}/id/plain`]) }), 400, /id\/plain/);
    writeFileSync(join(w, "junk.csr"), "not a CSR");
    refused("a body that is not a CSR", curl(w, { ...web, csr: join(w, "junk.csr") }), 400, /PKCS#10|certificate request/);
  });

  await t.test("audit: one record per renewal, refusals recorded, no key material in the log", async (t) => {
    // serve's log reaches the pipe in chunks: wait for the last refusal's record rather than read it at once.
    const renewRecords = () => serve.log().split("\n").filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.event === "renew");
    const records = await until("the refusals' audit records in serve's log", 30_000, async () => (renewRecords().some((r) => r.result === "refused" && /PKCS#10|certificate request/.test(String(r.error))) ? renewRecords() : undefined));
    const ok = records.filter((r) => r.result === "ok");
    t.equal(ok.length, 2, "two renewals, and nothing signed for a refused request");
    t.match(ok[0], { event: "renew", trigger: "api", actor: WEB, identity: "web", result: "ok", serial: /^[0-9a-f]+$/, fingerprint: /^[0-9a-f]{64}$/ });
    t.ok(records.some((r) => r.result === "refused" && /not opted in/.test(String(r.error))), "the refusal of an identity not opted in is recorded");
    t.equal(keyMaterialIn(serve.log(), [join(data, "kek")]), null, "no private key nor KEK in serve's log");
  });

});

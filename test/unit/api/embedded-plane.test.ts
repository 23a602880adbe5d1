/**
 * The embedded mode's control plane on a real file store in a temp dir (no swarm): generations old → new, the
 * `current` link swap, envoy.yaml beside the certificates (validated by Envoy's protos), the bootstrap route, the sign
 * policy, audit records, the readiness cache and stale gauges.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import t, { type Test } from "tap";
import { createMetrics, METRIC_NAMES } from "../../../src/api/metrics.js";
import { createAuthority, sealAuthority } from "../../../src/ca/index.js";
import { systemClock } from "../../../src/clock.js";
import { loadConfig } from "../../../src/config/load-config.js";
import { checkEnvoyFile } from "../../../src/envoy/index.js";
import { MtlsError } from "../../../src/errors.js";
import { createLogger } from "../../../src/log.js";
import { createServingPlane } from "../../../src/rotation/serving-plane.js";
import { openFileStore } from "../../../src/store/file-store.js";
import { ensureKekFile, readKekFile } from "../../../src/store/kek-file.js";
import { opensslCsr } from "./csr-fixtures.js";

const CONFIG = `
ca: { trustDomain: embedded.test }
rotation: { keepPrevious: 1 }
identities:
  - name: web
    dns: [web.local, www.web.local]
    envoy: { mode: http, listen: 9443, app: "8080", allow: "client" }
  - name: plain
    dns: [plain.local]
  - name: broken
    dns: [broken.local]
    envoy: { lisen: 9443 }
`;

async function world(t: Test, readyCacheMs = 0) {
  const dir = mkdtempSync(join(tmpdir(), "embedded-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "config.yaml"), CONFIG);
  const config = loadConfig({ file: join(dir, "config.yaml"), env: {} });
  const data = join(dir, "data");
  const store = openFileStore(data);
  const kekFile = join(data, "kek");
  await ensureKekFile(kekFile);
  const { authority } = await createAuthority({ trustDomain: "embedded.test" });
  await store.writeCaState(sealAuthority(authority, await readKekFile(kekFile)), { replace: false });
  let reads = 0;
  const counted = { ...store, readCaState: () => { reads++; return store.readCaState(); } };
  let log = "";
  const destination = new Writable({ write(c, _e, cb) { log += String(c); cb(); } });
  const logger = createLogger({ level: "info", pretty: false, destination });
  const metrics = createMetrics({ processMetrics: false });
  // The plane's clock: the real time, moved on by what a test adds.
  let movedMs = 0;
  const now = () => new Date(Date.now() + movedMs);
  const plane = createServingPlane({ store: counted, kekFile, config, logger, metrics, dataDir: data, readyCacheMs, now });
  const audits = () => log.trim().split("\n").filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const moveClock = (ms: number) => {
    movedMs += ms;
  };
  return { dir, data, plane, metrics, audits, log: () => log, reads: () => reads, moveClock };
}

function pairMatches(dir: string): boolean {
  const real = join(dir, readlinkSync(join(dir, "current")));
  const cert = new X509Certificate(readFileSync(join(real, "tls.crt")));
  return cert.checkPrivateKey(createPrivateKey(readFileSync(join(real, "tls.key"))));
}

t.test("generations go 1 → 2 → 3 in versioned directories behind an atomically swapped link; audit says old → new", async (t) => {
  const w = await world(t);
  await w.plane.reconcile({ trigger: "start" });
  const web = join(w.data, "certs", "web");
  t.equal(readlinkSync(join(web, "current")), "g1");
  t.equal(readlinkSync(join(web, "tls.crt")), "current/tls.crt", "stable paths are links into current");
  t.equal(statSync(join(web, "g1", "tls.key")).mode & 0o777, 0o400, "the key is 0400");
  t.ok(pairMatches(web), "current holds a matching pair");
  t.equal((await w.plane.getService("web")).generation, 1);

  const out = await w.plane.rotate("web", { force: true }, "token");
  t.match(out, [{ identity: "web", action: "rotated", generationBefore: 1, generationAfter: 2 }]);
  t.equal(readlinkSync(join(web, "current")), "g2");
  t.ok(pairMatches(web));
  t.same(readdirSync(web).filter((n) => /^g\d+$/.test(n)).sort(), ["g1", "g2"], "the previous generation is kept");
  await w.plane.rotate("web", { force: true }, "token");
  t.same(readdirSync(web).filter((n) => /^g\d+$/.test(n)).sort(), ["g2", "g3"], "older ones are pruned (keepPrevious 1)");
  t.equal((await w.plane.getService("web")).generation, 3);

  const cert = new X509Certificate(readFileSync(join(web, "tls.crt")));
  const last = w.audits().filter((a) => a.identity === "web").at(-1);
  t.match(last, { audit: true, event: "rotate", trigger: "api", actor: "token", result: "ok", generation: { from: 2, to: 3 }, serial: cert.serialNumber.toLowerCase(), fingerprint: cert.fingerprint256.replace(/:/g, "").toLowerCase() });
  t.match(w.audits().find((a) => a.identity === "plain"), { trigger: "start", actor: null, generation: { from: null, to: 1 }, result: "ok" });
  t.notMatch(w.log(), /PRIVATE KEY/, "no key material in the log");
});

t.test("envoy.yaml beside the certificates, valid for Envoy, served by the bootstrap route; a bad envoy block fails with an audit record", async (t) => {
  const w = await world(t);
  await w.plane.reconcile({ trigger: "start" });
  const web = join(w.data, "certs", "web");
  const yaml = readFileSync(join(web, "envoy.yaml"), "utf8");
  t.same(checkEnvoyFile(yaml).errors, [], "Envoy's protos accept it");
  t.match(yaml, join(web, "tls.crt"), "it points at the identity's certificate files");
  t.match(yaml, "spiffe://embedded.test/id/client", "allow became a SPIFFE ID");
  t.equal(await w.plane.envoyBootstrap("web"), yaml, "the route serves the file");
  await t.rejects(w.plane.envoyBootstrap("plain"), { code: "not-found", message: /no Envoy sidecar/ });
  await t.rejects(w.plane.envoyBootstrap("ghost"), { code: "not-found", message: /no configured identity 'ghost'/ });

  t.throws(() => lstatSync(join(w.data, "certs", "broken")), "nothing written for the identity with a bad envoy block");
  t.match(w.audits().find((a) => a.identity === "broken"), { event: "rotate", result: "failed", error: /identities\.broken\.envoy: unknown key 'lisen'/ });
  const out = await w.plane.rotate("broken", { force: true }, "token");
  t.match(out, [{ action: "failed", error: /unknown key 'lisen'/ }]);
});

t.test("POST /v1/sign policy in embedded mode: only configured identities and their names; CA:TRUE refused; refusals are audited", async (t) => {
  const w = await world(t);
  const csr = opensslCsr("web");
  const refused = async (req: { identity: string; dnsNames?: string[]; csrPem?: string }, re: RegExp) => {
    const e = await w.plane.signCsr({ csrPem: csr, ...req }, "token").then(() => null, (err: unknown) => err);
    t.ok(e instanceof MtlsError && e.code === "bad-input", `${re.source}: refused as bad-input`);
    t.match((e as Error | null)?.message, re, "the message names the problem");
  };
  await refused({ identity: "ghost" }, /identity 'ghost' is not a known identity/);
  await refused({ identity: "web", dnsNames: ["google.com", "bank.example.com"] }, /'google\.com' is not a name of identity 'web'/);
  await refused({ identity: "web", csrPem: opensslCsr("web", ["basicConstraints=critical,CA:TRUE"]) }, /CA:TRUE/);
  await refused({ identity: "web", csrPem: opensslCsr("web", ["subjectAltName=DNS:bank.example.com"]) }, /bank\.example\.com/);
  t.equal(w.audits().filter((a) => a.event === "sign" && a.result === "refused").length, 4, "each refusal wrote an audit record");

  const ok = await w.plane.signCsr({ identity: "web", csrPem: opensslCsr("web", ["subjectAltName=DNS:web.local"]), dnsNames: ["web.local"] }, "token");
  const cert = new X509Certificate(ok.chainPem.split(/(?<=-----END CERTIFICATE-----)/)[0] as string);
  t.equal(cert.subjectAltName, "DNS:web.local, URI:spiffe://embedded.test/id/web");
  t.notOk(cert.ca, "CA:FALSE");
  t.match(w.audits().at(-1), { event: "sign", result: "ok", identity: "web", serial: ok.serial, fingerprint: cert.fingerprint256.replace(/:/g, "").toLowerCase(), generation: { from: null, to: null } });
  const all = await w.plane.signCsr({ identity: "web", csrPem: csr }, "token");
  t.equal(new X509Certificate(all.chainPem.split(/(?<=-----END CERTIFICATE-----)/)[0] as string).subjectAltName, "DNS:web.local, DNS:www.web.local, URI:spiffe://embedded.test/id/web", "default: the identity's names");
});

t.test("readiness is cached: probes do not re-read and decrypt the CA each time", async (t) => {
  const w = await world(t, 60_000);
  t.same(await w.plane.ready(), { ready: true });
  const after = w.reads();
  for (let i = 0; i < 50; i++) await w.plane.ready();
  t.equal(w.reads(), after, "fifty probes, no further CA read");
});

t.test("the expiry gauge of an identity that no longer exists is removed on the next reconcile", async (t) => {
  const w = await world(t);
  w.metrics.setLeafExpiry("removed-from-config", new Date(Date.now() + 3600_000));
  await w.plane.reconcile({ trigger: "start" });
  const text = await w.metrics.registry.metrics();
  t.notMatch(text, 'identity="removed-from-config"');
  t.match(text, `${METRIC_NAMES.leafExpiry}{identity="web"}`);
  t.notMatch(text, 'name="removed-from-config"');
  t.match(text, `${METRIC_NAMES.certificateReady}{name="web",condition="True"} 1`, "the issued certificate is Ready");
  t.match(text, new RegExp(`${METRIC_NAMES.certificateExpiration}\\{name="web"\\} \\d+`));
  t.match(text, new RegExp(`${METRIC_NAMES.certificateRenewal}\\{name="web"\\} \\d+`));
  t.match(text, `${METRIC_NAMES.certificateReady}{name="broken",condition="Unknown"} 1`, "the identity with a bad envoy block: its settings are invalid (Unknown, as for invalid labels)");
  t.match(text, `${METRIC_NAMES.rotationFailures}{name="broken"} 1`);
  t.match(text, `${METRIC_NAMES.reconciles}{result="failed"} 1`, "one identity failed: the reconcile is not a success");
});

t.test("a TTL or key algorithm changed in the config re-issues in embedded mode with reason settings-changed, as in swarm mode; unchanged settings re-issue nothing", async (t) => {
  const w = await world(t);
  await w.plane.reconcile({ trigger: "start" });
  const plain = join(w.data, "certs", "plain");
  const at = (gen: string) => new X509Certificate(readFileSync(join(plain, gen, "tls.crt")));
  t.equal(readlinkSync(join(plain, "current")), "g1");
  const same = createServingPlane({ store: openFileStore(w.data), kekFile: join(w.data, "kek"), config: loadConfig({ file: join(w.dir, "config.yaml"), env: {} }), logger: createLogger({ level: "silent", pretty: false }), metrics: createMetrics({ processMetrics: false }), dataDir: w.data, now: systemClock });
  t.match(await same.rotate("plain", { dryRun: true }, "token"), [{ action: "skipped", reason: "up-to-date" }], "a restart with the same config plans nothing");

  const withSettings = (extra: string) => {
    writeFileSync(join(w.dir, "config.yaml"), CONFIG.replace("dns: [plain.local]", `dns: [plain.local]\n    ${extra}`));
    const config = loadConfig({ file: join(w.dir, "config.yaml"), env: {} });
    return createServingPlane({ store: openFileStore(w.data), kekFile: join(w.data, "kek"), config, logger: createLogger({ level: "silent", pretty: false }), metrics: createMetrics({ processMetrics: false }), dataDir: w.data, now: systemClock });
  };
  const ttl = withSettings("ttl: 2h");
  t.match(await ttl.rotate("plain", { dryRun: true }, "token"), [{ action: "planned", reason: "settings-changed" }], "the plan says why");
  t.match(await ttl.getService("plain"), { state: "due", reason: /names, lifetime or key algorithm/ });
  t.match(await ttl.rotate("plain", {}, "token"), [{ identity: "plain", action: "rotated", reason: "settings-changed", generationBefore: 1, generationAfter: 2 }]);
  const g2 = at("g2");
  t.equal((Date.parse(g2.validTo) - Date.parse(g2.validFrom)) / 1000, 2 * 3600 + 60, "the new certificate lives 2h (+ the 60 s backdating)");
  t.match(await ttl.rotate("plain", {}, "token"), [{ action: "skipped", reason: "up-to-date" }], "once re-issued, it is up to date");

  const alg = withSettings("ttl: 2h\n    keyAlgorithm: ed25519");
  t.match(await alg.rotate("plain", {}, "token"), [{ identity: "plain", action: "rotated", reason: "settings-changed", generationBefore: 2, generationAfter: 3 }]);
  t.equal(at("g3").publicKey.asymmetricKeyType, "ed25519", "the new key is Ed25519");
  t.match(await alg.rotate(null, {}, "token"), [{ identity: "web", action: "skipped" }, { identity: "plain", action: "skipped" }, { identity: "broken", action: "failed" }], "nothing else moves");
});

t.test("a generation directory written before labels.json existed is re-issued once, then left alone", async (t) => {
  const w = await world(t);
  await w.plane.reconcile({ trigger: "start" });
  const plain = join(w.data, "certs", "plain");
  rmSync(join(plain, "g1", "labels.json"));
  t.match(await w.plane.rotate("plain", {}, "token"), [{ action: "rotated", reason: "settings-changed", generationAfter: 2 }]);
  t.match(await w.plane.rotate("plain", {}, "token"), [{ action: "skipped", reason: "up-to-date" }]);
});

t.test("after a CA change the trust bundle is re-written beside the certificate, and a crash between writing a generation and switching to it resumes without issuing", async (t) => {
  const w = await world(t);
  await w.plane.reconcile({ trigger: "start" });
  const plain = join(w.data, "certs", "plain");
  // The generation directory is complete but `current` still names the old one (a crash between the two steps).
  await w.plane.rotate("plain", { force: true }, "token");
  symlinkSync("g1", join(plain, ".current.tmp"));
  renameSync(join(plain, ".current.tmp"), join(plain, "current"));
  t.match(await w.plane.rotate("plain", {}, "token"), [{ action: "reattached", reason: "resume", generationBefore: 1, generationAfter: 2 }]);
  t.equal(readlinkSync(join(plain, "current")), "g2");
  writeFileSync(join(plain, "g2", "ca.crt"), "an old bundle\n");
  t.match(await w.plane.rotate("plain", {}, "token"), [{ action: "reattached", reason: "bundle-changed", generationAfter: 2 }]);
  t.equal(readFileSync(join(plain, "ca.crt"), "utf8"), await w.plane.bundlePem(), "ca.crt is the CA's bundle again");
});

t.test("the serving plane reads time only from its clock: moved to the renewal time (24h leaves, due in their last third), an identity becomes due and is renewed with reason due", async (t) => {
  const w = await world(t);
  await w.plane.reconcile({ trigger: "start" });
  t.match(await w.plane.getService("plain"), { state: "ok", generation: 1 });
  w.moveClock(12 * 3600_000);
  t.match(await w.plane.rotate("plain", {}, "token"), [{ action: "skipped", reason: "up-to-date" }], "12h into a 24h lifetime: not yet due");
  w.moveClock(5 * 3600_000);
  t.match(await w.plane.getService("plain"), { state: "due", generation: 1 }, "17h in: past the renewal time (16h at the latest)");
  t.match(await w.plane.rotate("plain", {}, "token"), [{ identity: "plain", action: "rotated", reason: "due", generationBefore: 1, generationAfter: 2 }]);
  const g2 = new X509Certificate(readFileSync(join(w.data, "certs", "plain", "g2", "tls.crt")));
  t.ok(Date.parse(g2.validFrom) > Date.now() + 16 * 3600_000, "the new certificate starts at the plane's time, not the real one");
  t.match(await w.plane.getService("plain"), { state: "ok", generation: 2 });
});

/**
 * Bad input over real HTTP against a running `serve`: each request gets a clear 4xx, nothing changes in the swarm,
 * and no response body nor serve's log holds a private key or the KEK.
 */
import "reflect-metadata";
import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { keyMaterialIn } from "../../helpers/cli.js";
import { spawnServe } from "../../helpers/serve-process.js";
import { freePort, until } from "../../helpers/swarm-test.js";
import { docker, requireSwarm, RotationWorld, waitRunning } from "../rotation/fixtures/rotation-world.js";

t.before(requireSwarm);

t.test("malformed, oversize, badly signed, out-of-policy and path-traversal requests: 4xx, nothing changed, nothing leaked", async (t) => {
  const w = new RotationWorld();
  const dir = mkdtempSync(join(tmpdir(), "http-bad-"));
  const token = randomBytes(24).toString("hex");
  writeFileSync(join(dir, "admin-token"), `${token}\n`, { mode: 0o600 });
  const svc = w.name("http");
  await w.createService(svc);
  await waitRunning(svc);
  t.equal((await w.cli(["rotate", svc])).code, 0, "the service has generation 1");
  const secretsNow = async (): Promise<string> => docker("secret", "ls", "--format", "{{.ID}} {{.Name}}", "--filter", `label=io.swarm-mtls.identity=${svc}`);
  const before = await secretsNow();

  const port = await freePort("127.0.0.1");
  const proc = spawnServe(["--no-tls", "--listen", `127.0.0.1:${port}`, "--admin-token-file", join(dir, "admin-token")], { ...w.env, SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *" });
  const serve = proc.child;
  const exited = proc.exited.then((e) => e.code);
  t.teardown(async () => {
    await proc.kill();
    rmSync(dir, { recursive: true, force: true });
    await w.cleanup();
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/v1/bundle.pem`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (i > 120) throw new Error(`serve did not answer:\n${proc.log()}`);
    await new Promise((r) => setTimeout(r, 500));
  }

  // A real CSR, then the same with one signature byte flipped.
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${svc}`, "-keyout", join(dir, "k.pem"), "-out", join(dir, "csr.pem")], { stdio: "ignore" });
  const goodCsr = readFileSync(join(dir, "csr.pem"), "utf8");
  const der = Buffer.from(goodCsr.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01;
  const badCsr = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE REQUEST-----\n`;

  const bodies: string[] = [];
  const send = async (method: string, path: string, body?: string, contentType = "application/json"): Promise<{ status: number; text: string }> => {
    const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": contentType }) }, body });
    const text = await r.text();
    bodies.push(text);
    return { status: r.status, text };
  };
  // CSRs an attacker holding the admin token might try: a CA certificate, or names of somebody else.
  const caCsrPath = join(dir, "ca-csr.pem");
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${svc}`, "-addext", "basicConstraints=critical,CA:TRUE", "-keyout", join(dir, "k2.pem"), "-out", caCsrPath], { stdio: "ignore" });
  const foreignCsrPath = join(dir, "foreign-csr.pem");
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${svc}`, "-addext", "subjectAltName=DNS:bank.example.com", "-keyout", join(dir, "k3.pem"), "-out", foreignCsrPath], { stdio: "ignore" });
  const caCsr = readFileSync(caCsrPath, "utf8");
  const foreignCsr = readFileSync(foreignCsrPath, "utf8");
  const ghost = `ghost-${randomBytes(4).toString("hex")}`;

  const cases: [string, () => Promise<{ status: number; text: string }>, number, RegExp?][] = [
    ["malformed JSON", () => send("POST", "/v1/sign", "{\"identity\": "), 400],
    ["a body over the limit", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: "x".repeat(200 * 1024) })), 413],
    ["a CSR with a bad signature", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: badCsr })), 400],
    ["a CSR asking for a wildcard name", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr, dns: ["*.evil.example"] })), 400],
    ["a CSR asking for a name with a comma", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr, dns: ["a.example,DNS:evil.example"] })), 400],
    ["a ttl over the CA maximum", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr, ttl: "36500d" })), 400],
    ["a path-traversal identity (read)", () => send("GET", "/v1/services/..%2f..%2fetc"), 400],
    ["a path-traversal identity (rotate)", () => send("POST", "/v1/services/..%2f..%2fetc/rotate", "{}"), 400],
    ["a path-traversal identity (sign)", () => send("POST", "/v1/sign", JSON.stringify({ identity: "../../etc", csr: goodCsr })), 400],
    ["an identity that exists nowhere", () => send("POST", "/v1/sign", JSON.stringify({ identity: ghost, csr: goodCsr, dns: ["google.com", "bank.example.com"] })), 400, new RegExp(`identity '${ghost}' is not a known identity`)],
    ["a DNS name outside the identity's names", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr, dns: [svc, "google.com"] })), 400, /'google\.com' is not a name of identity/],
    ["a CSR asking for CA:TRUE", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: caCsr })), 400, /CA:TRUE/],
    ["a CSR carrying a foreign SAN", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: foreignCsr })), 400, /DNS name 'bank\.example\.com'/],
    ["a text/plain body on a JSON route", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr }), "text/plain"), 415, /unsupported content-type 'text\/plain'/],
  ];
  for (const [what, call, want, re] of cases) {
    const r = await call();
    t.equal(r.status, want, `${what}: ${want} (${r.text.slice(0, 200)})`);
    let message = "";
    try {
      message = String((JSON.parse(r.text) as { error?: { message?: unknown } }).error?.message ?? "");
    } catch {
      /* checked below */
    }
    t.ok(message.length > 0, `${what}: the answer carries an error message`);
    if (re) t.match(message, re, `${what}: the message names the refused name or extension`);
  }
  const good = await send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr, dns: [svc] }));
  t.equal(good.status, 200, "the unmodified CSR is signed (the bad one failed only for its signature)");
  const signed = JSON.parse(good.text) as { serial: string; chainPem: string };
  const leaf = new X509Certificate(signed.chainPem.split(/(?<=-----END CERTIFICATE-----)/)[0] as string);
  t.equal(leaf.ca, false, "the signed certificate is not a CA (CA:FALSE)");
  t.match(leaf.subjectAltName, new RegExp(`^DNS:${svc}, URI:spiffe://[^/]+/id/${svc}$`), "it carries only the allowed name and the identity's SPIFFE ID");

  // The audit trail in serve's log: one record per signing and per refusal, same fields each time, no key material.
  // An audit line may reach the pipe a moment after the HTTP answer: wait for the one asked for.
  type Audit = Record<string, unknown>;
  const auditLine = (what: string, match: (a: Audit) => boolean): Promise<Audit> =>
    until(`the audit record of ${what} in serve's log`, 30_000, async () =>
      proc.log().split("\n").filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l) as Audit).find(match));
  t.match(await auditLine("the signing", (a) => a.event === "sign" && a.result === "ok"), {
    component: "audit", trigger: "api", actor: "token", identity: svc, serial: signed.serial,
    fingerprint: leaf.fingerprint256.replace(/:/g, "").toLowerCase(), generation: { from: null, to: null },
  }, "the signing has an audit record with serial and fingerprint");
  t.ok(await auditLine("the refused signing", (a) => a.event === "sign" && a.result === "refused" && a.identity === ghost && String(a.error).includes("not a known identity")), "a refused signing is audited too");

  t.equal(await secretsNow(), before, "docker secret ls for the identity is unchanged");

  // A real rotation through the API: its audit record says generation 1 → 2 and carries the new certificate's fingerprint.
  const rotated = await send("POST", `/v1/services/${svc}/rotate`, JSON.stringify({ force: true }));
  t.equal(rotated.status, 200, `forced rotation over the API (${rotated.text.slice(0, 300)})`);
  t.match(JSON.parse(rotated.text), { outcomes: [{ identity: svc, action: "rotated", generationBefore: 1, generationAfter: 2 }] });
  const crt2 = (await docker("secret", "ls", "--format", "{{.Name}}", "--filter", `label=io.swarm-mtls.identity=${svc}`)).split("\n").map((x) => x.trim()).find((n) => n.endsWith(".crt.v2")) ?? "(none)";
  const labelFingerprint = (await docker("secret", "inspect", "--format", '{{index .Spec.Labels "io.swarm-mtls.fingerprint"}}', crt2)).trim();
  const rotation = await auditLine("the rotation", (a) => a.event === "rotate" && a.identity === svc);
  t.match(rotation, { trigger: "api", actor: "token", service: svc, result: "ok", generation: { from: 1, to: 2 }, fingerprint: /^[0-9a-f]{64}$/, serial: /^[0-9a-f]+$/ }, "the rotation has an audit record");
  t.equal(rotation?.fingerprint, labelFingerprint, "the audited fingerprint is the new certificate's (label of its secret)");
  serve.kill("SIGTERM");
  t.equal(await exited, 0, "serve exits 0 on SIGTERM");
  t.equal(keyMaterialIn(bodies.join("\n"), [w.env.SWARM_MTLS_KEK_FILE]), null, "no response body holds a private key or the KEK");
  t.equal(keyMaterialIn(proc.log(), [w.env.SWARM_MTLS_KEK_FILE]), null, "serve's log holds no private key nor the KEK");
});

/**
 * The embedded default end to end, without Swarm: the built `serve` on a file store in a temp dir creates its CA,
 * writes each configured identity's certificates (generation directories behind a `current` link) and envoy.yaml,
 * serves the bootstrap from that file, rotates 1 → 2 over the API with an audit record, and logs no key material.
 */
import { spawn } from "node:child_process";
import { X509Certificate, createPrivateKey, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { checkEnvoyFile } from "../../../src/envoy/index.js";
import { CLI, keyMaterialIn, REPO } from "../../helpers/cli.js";
import { freePort, until } from "../../helpers/swarm-test.js";

t.test("serve --store file:DIR keeps identities fresh, writes envoy.yaml beside them and serves it", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "serve-embedded-"));
  const data = join(dir, "data");
  const token = randomBytes(24).toString("hex");
  writeFileSync(join(dir, "admin-token"), `${token}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "config.yaml"), [
    "identities:",
    "  - name: web",
    "    dns: [web.local]",
    "    envoy: { mode: http, listen: 9443, app: \"8080\" }",
    "  - name: plain",
    "    dns: [plain.local]",
    "",
  ].join("\n"));
  const port = await freePort("127.0.0.1");
  const serve = spawn(process.execPath, [CLI, "serve", "--config", join(dir, "config.yaml"), "--store", `file:${data}`, "--no-tls", "--listen", `127.0.0.1:${port}`, "--admin-token-file", join(dir, "admin-token")], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *", SWARM_MTLS_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  serve.stderr.on("data", (d) => (stderr += d));
  serve.stdout.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => serve.on("close", (code) => r(code)));
  t.teardown(() => {
    if (serve.exitCode === null) serve.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  const json = async (path: string, init?: RequestInit) => {
    const r = await fetch(`${base}${path}`, init);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const services = await until(`both identities issued (serve log: ${stderr.slice(-500)})`, 120_000, async () => {
    const r = await json("/v1/services").catch(() => null);
    const list = (r?.body.services ?? []) as { identity: string; generation: number }[];
    return list.length === 2 && list.every((s) => s.generation === 1) ? list : undefined;
  });
  t.same(services.map((s) => s.identity).sort(), ["plain", "web"]);

  const web = join(data, "certs", "web");
  t.equal(readlinkSync(join(web, "current")), "g1", "current → g1");
  const yaml = readFileSync(join(web, "envoy.yaml"), "utf8");
  t.same(checkEnvoyFile(yaml).errors, [], "envoy.yaml is valid for Envoy");
  const boot = await fetch(`${base}/v1/envoy/web/bootstrap.yaml`);
  t.equal(boot.status, 200);
  t.equal(await boot.text(), yaml, "the bootstrap route serves the file beside the certificates");
  const none = await json("/v1/envoy/plain/bootstrap.yaml");
  t.equal(none.status, 404);
  t.match(none.body, { error: { message: /no Envoy sidecar/ } });

  const rotated = await json("/v1/services/web/rotate", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ force: true }) });
  t.equal(rotated.status, 200);
  t.match(rotated.body, { outcomes: [{ identity: "web", action: "rotated", generationBefore: 1, generationAfter: 2 }] });
  t.equal(readlinkSync(join(web, "current")), "g2");
  const cert = new X509Certificate(readFileSync(join(web, "tls.crt")));
  t.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(join(web, "tls.key")))), "the stable paths hold a matching pair");
  // The log line may reach the pipe a moment after the HTTP answer: wait for it.
  const audit = await until("the rotation's audit record in serve's log", 30_000, async () =>
    stderr.split("\n").filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((a) => a.identity === "web" && (a.generation as { to: number } | undefined)?.to === 2));
  t.match(audit, {
    event: "rotate", trigger: "api", actor: "token", result: "ok", generation: { from: 1, to: 2 },
    serial: cert.serialNumber.toLowerCase(), fingerprint: cert.fingerprint256.replace(/:/g, "").toLowerCase(),
  }, "the rotation's audit record says 1 → 2 with the new certificate's serial and fingerprint");

  const sign = await json("/v1/sign", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ identity: "ghost", csr: "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n" }) });
  t.equal(sign.status, 400, "an unknown identity is refused");

  serve.kill("SIGTERM");
  t.equal(await exited, 0, "serve exits 0 on SIGTERM");
  t.equal(keyMaterialIn(stderr, [join(data, "kek")]), null, "serve's log holds no private key nor the KEK");
});

/**
 * Bad input over real HTTP against a running `serve`: each request gets a clear 4xx, nothing changes in the swarm,
 * and no response body nor serve's log holds a private key or the KEK.
 */
import "reflect-metadata";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { CLI, keyMaterialIn, REPO } from "../../helpers/cli.js";
import { docker, requireSwarm, RotationWorld, waitRunning } from "../rotation/fixtures/rotation-world.js";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

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

  const port = await freePort();
  const serve = spawn(process.execPath, [CLI, "serve", "--no-tls", "--listen", `127.0.0.1:${port}`, "--admin-token-file", join(dir, "admin-token")], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...w.env, SWARM_MTLS_SCHEDULE_CRON: "0 0 1 1 *" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  serve.stderr.on("data", (d) => (stderr += d));
  serve.stdout.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => serve.on("close", (code) => r(code)));
  t.teardown(async () => {
    if (serve.exitCode === null) serve.kill("SIGKILL");
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
    if (i > 120) throw new Error(`serve did not answer:\n${stderr}`);
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
  const cases: [string, () => Promise<{ status: number; text: string }>, number][] = [
    ["malformed JSON", () => send("POST", "/v1/sign", "{\"identity\": "), 400],
    ["a body over the limit", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: "x".repeat(200 * 1024) })), 413],
    ["a CSR with a bad signature", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: badCsr })), 400],
    ["a CSR asking for a wildcard name", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr, dns: ["*.evil.example"] })), 400],
    ["a CSR asking for a name with a comma", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr, dns: ["a.example,DNS:evil.example"] })), 400],
    ["a ttl over the CA maximum", () => send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr, ttl: "36500d" })), 400],
    ["a path-traversal identity (read)", () => send("GET", "/v1/services/..%2f..%2fetc"), 400],
    ["a path-traversal identity (rotate)", () => send("POST", "/v1/services/..%2f..%2fetc/rotate", "{}"), 400],
    ["a path-traversal identity (sign)", () => send("POST", "/v1/sign", JSON.stringify({ identity: "../../etc", csr: goodCsr })), 400],
  ];
  for (const [what, call, want] of cases) {
    const r = await call();
    t.equal(r.status, want, `${what}: ${want} (${r.text.slice(0, 200)})`);
    let message = "";
    try {
      message = String((JSON.parse(r.text) as { error?: { message?: unknown } }).error?.message ?? "");
    } catch {
      /* checked below */
    }
    t.ok(message.length > 0, `${what}: the answer carries an error message`);
  }
  const good = await send("POST", "/v1/sign", JSON.stringify({ identity: svc, csr: goodCsr }));
  t.equal(good.status, 200, "the unmodified CSR is signed (the bad one failed only for its signature)");

  t.equal(await secretsNow(), before, "docker secret ls for the identity is unchanged");
  serve.kill("SIGTERM");
  t.equal(await exited, 0, "serve exits 0 on SIGTERM");
  t.equal(keyMaterialIn(bodies.join("\n"), [w.env.SWARM_MTLS_KEK_FILE]), null, "no response body holds a private key or the KEK");
  t.equal(keyMaterialIn(stderr, [w.env.SWARM_MTLS_KEK_FILE]), null, "serve's log holds no private key nor the KEK");
});

/**
 * The API over real sockets: plain HTTP on 127.0.0.1:0, and HTTPS with client certificates made by the openssl CLI
 * (a test CA, a server certificate for 127.0.0.1, an admin client, a non-admin client, and an impostor from another CA).
 */
import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { buildApiApp } from "../../../src/api/app.js";
import { createMetrics } from "../../../src/api/metrics.js";
import { createLogger } from "../../../src/log.js";
import { BUNDLE_PEM, FakeControlPlane } from "./fake-control-plane.js";

const TOKEN = "network-test-token-5f2c";
const ADMIN_ID = "spiffe://test.local/admin/ops";
const quietLogger = () => createLogger({ level: "warn", pretty: false, destination: new Writable({ write: (_c, _e, cb) => cb() }) });

t.test("over real HTTP: bundle, admin rotate with the token, 401 without, 413 over the limit", async (t) => {
  const cp = new FakeControlPlane();
  const app = await buildApiApp({ controlPlane: cp, metrics: createMetrics({ processMetrics: false }), logger: quietLogger(), adminToken: TOKEN });
  t.teardown(() => app.close());
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  const bundle = await fetch(`${base}/v1/bundle.pem`);
  t.equal(bundle.status, 200);
  t.equal(bundle.headers.get("content-type"), "application/x-pem-file");
  t.equal(await bundle.text(), BUNDLE_PEM);

  const denied = await fetch(`${base}/v1/rotate`, { method: "POST" });
  t.equal(denied.status, 401);
  t.equal(denied.headers.get("www-authenticate"), 'Bearer realm="swarm-mtls"');

  const rotated = await fetch(`${base}/v1/services/stack_api/rotate`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ force: true }),
  });
  t.equal(rotated.status, 200);
  t.match(await rotated.json(), { outcomes: [{ identity: "stack_api", action: "rotated", reason: "forced" }] });

  const tooBig = await fetch(`${base}/v1/rotate`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ force: true, pad: "x".repeat(100 * 1024) }),
  });
  t.equal(tooBig.status, 413);
  t.match(await tooBig.json(), { error: { code: "bad-input" } });

  const traversal = await fetch(`${base}/v1/envoy/..%2f..%2fetc%2fpasswd/bootstrap.yaml`);
  t.equal(traversal.status, 400);
  t.same(cp.mutatingCalls().length, 1, "only the authorized rotate reached the control plane");
});

/** Makes a CA and certificates with the openssl CLI; returns PEM file contents by name. */
function makeCertificates(dir: string): Record<string, string> {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const key = (name: string) => run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`);
  const ca = (name: string) => {
    key(name);
    run("req", "-x509", "-new", "-key", `${name}.key`, "-subj", `/CN=${name}`, "-days", "2", "-out", `${name}.crt`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  };
  const leaf = (name: string, caName: string, ext: string, cn = name) => {
    key(name);
    run("req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn.replace(/\//g, "\\/")}`, "-out", `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    run("x509", "-req", "-in", `${name}.csr`, "-CA", `${caName}.crt`, "-CAkey", `${caName}.key`, "-CAcreateserial",
      "-days", "1", "-out", `${name}.crt`, "-extfile", `${name}.ext`);
  };
  ca("test-ca");
  ca("other-ca");
  leaf("server", "test-ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  leaf("admin", "test-ca", `subjectAltName=URI:${ADMIN_ID}\nextendedKeyUsage=clientAuth\n`);
  leaf("worker", "test-ca", "subjectAltName=URI:spiffe://test.local/swarm/app/worker\nextendedKeyUsage=clientAuth\n");
  leaf("impostor", "other-ca", `subjectAltName=URI:${ADMIN_ID}\nextendedKeyUsage=clientAuth\n`);
  // A workload whose CN is the admin ID (CNs come from labels): CN matching would have made it admin.
  leaf("cn-only", "test-ca", "subjectAltName=URI:spiffe://test.local/swarm/app/cn-only\nextendedKeyUsage=clientAuth\n", ADMIN_ID);
  const out: Record<string, string> = {};
  for (const n of ["test-ca", "server", "admin", "worker", "impostor", "cn-only"]) {
    out[`${n}.crt`] = readFileSync(join(dir, `${n}.crt`), "utf8");
    out[`${n}.key`] = readFileSync(join(dir, `${n}.key`), "utf8");
  }
  return out;
}

interface HttpsReply {
  status: number;
  body: string;
}

function httpsCall(port: number, ca: string, method: string, path: string, client?: { cert: string; key: string }, headers: Record<string, string> = {}): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, method, path, ca, headers, ...(client ?? {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

t.test("over real HTTPS: a verified client certificate of an admin identity grants admin, others do not", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-api-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pem = makeCertificates(dir);
  const ca = pem["test-ca.crt"] as string;
  const cp = new FakeControlPlane();
  const app = await buildApiApp({
    controlPlane: cp,
    metrics: createMetrics({ processMetrics: false }),
    logger: quietLogger(),
    adminToken: TOKEN,
    adminIdentities: [ADMIN_ID],
    https: { key: pem["server.key"], cert: pem["server.crt"], ca, requestCert: true, rejectUnauthorized: false },
  });
  t.teardown(() => app.close());
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const client = (n: string) => ({ cert: pem[`${n}.crt`] as string, key: pem[`${n}.key`] as string });

  const anonymous = await httpsCall(port, ca, "GET", "/v1/bundle.pem");
  t.equal(anonymous.status, 200, "public routes need no client certificate");
  t.equal(anonymous.body, BUNDLE_PEM);

  const admin = await httpsCall(port, ca, "POST", "/v1/rotate", client("admin"));
  t.equal(admin.status, 200, "the admin identity's certificate is accepted");
  t.same(cp.mutatingCalls().at(-1)?.args, [null, { force: false, dryRun: false }, ADMIN_ID], "the actor is the client identity");

  const worker = await httpsCall(port, ca, "POST", "/v1/rotate", client("worker"));
  t.equal(worker.status, 401, "a certificate of a non-admin identity is refused");
  const impostor = await httpsCall(port, ca, "POST", "/v1/rotate", client("impostor"));
  t.equal(impostor.status, 401, "a certificate naming the admin but issued by another CA is refused");
  const cnOnly = await httpsCall(port, ca, "POST", "/v1/rotate", client("cn-only"));
  t.equal(cnOnly.status, 401, "a certificate whose CN is the admin ID (not its URI SAN) is refused");
  const none = await httpsCall(port, ca, "POST", "/v1/rotate");
  t.equal(none.status, 401);
  t.match(JSON.parse(none.body), { error: { code: "unauthorized" } });

  const token = await httpsCall(port, ca, "POST", "/v1/rotate", client("worker"), { authorization: `Bearer ${TOKEN}` });
  t.equal(token.status, 200, "the token still works over HTTPS");
  t.same(cp.mutatingCalls().at(-1)?.args[2], "token");
  t.equal(cp.mutatingCalls().length, 2, "refused requests changed nothing");
});

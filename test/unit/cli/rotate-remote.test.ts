/**
 * `swarm-mtls rotate --server URL`: the built CLI against a stand-in of the CA service's admin API (node:http and
 * node:https servers in this process, answering as serve's API does). What is checked is what the operator sees:
 * the report, the exit codes (same as a local rotate), the messages, and what reached the server.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { bundlePem, createAuthority, issueLeaf } from "../../../src/ca/index.js";
import { runCli } from "../../helpers/cli.js";

const TOKEN = "e2e-admin-token-0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "rotate-remote-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const tokenFile = join(dir, "token");
writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });

interface Seen { method: string; url: string; auth: string | undefined; body: unknown }
type Answer = (req: Seen) => { status: number; body: unknown };

const SERVICES = [
  { identity: "shop_api", service: "shop_api", generation: 3, serial: "aa", notAfter: null, secondsLeft: null, nextRotation: null, issuer: null, state: "ok" },
  { identity: "billing", service: "shop_billing", generation: 1, serial: "bb", notAfter: null, secondsLeft: null, nextRotation: null, issuer: null, state: "ok" },
];

/** serve's admin API as far as rotate uses it: GET /v1/services, POST /v1/services/:identity/rotate, POST /v1/rotate. */
function api(answer: Answer = defaultAnswer) {
  const seen: Seen[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (text += d));
    req.on("end", () => {
      const s: Seen = { method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization, body: text ? JSON.parse(text) : undefined };
      seen.push(s);
      const a = s.auth === `Bearer ${TOKEN}` || (s.method === "GET" && s.url === "/v1/services")
        ? answer(s)
        : { status: 401, body: { error: { code: "unauthorized", message: "admin credentials required: a bearer token or an admin client certificate" } } };
      res.writeHead(a.status, { "content-type": "application/json" }).end(JSON.stringify(a.body));
    });
  };
  return { seen, handler };
}

function defaultAnswer(s: Seen): { status: number; body: unknown } {
  if (s.method === "GET" && s.url === "/v1/services") return { status: 200, body: { services: SERVICES } };
  const m = /^\/v1\/services\/([^/]+)\/rotate$/.exec(s.url);
  if (s.method === "POST" && m) {
    const svc = SERVICES.find((x) => x.identity === decodeURIComponent(m[1] as string));
    const force = (s.body as { force?: boolean }).force === true;
    return { status: 200, body: { outcomes: [{ identity: svc?.identity, service: svc?.service, action: force ? "rotated" : "skipped", reason: force ? "forced" : "up-to-date", generationBefore: svc?.generation, generationAfter: (svc?.generation ?? 0) + (force ? 1 : 0) }] } };
  }
  if (s.method === "POST" && s.url === "/v1/rotate") {
    return { status: 200, body: { outcomes: SERVICES.map((x) => ({ identity: x.identity, service: x.service, action: "skipped", reason: "up-to-date", generationBefore: x.generation, generationAfter: x.generation })) } };
  }
  return { status: 404, body: { error: { code: "not-found", message: `no route for ${s.method} ${s.url}` } } };
}

async function listen(server: Server, t: Test): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

async function httpApi(t: Test, answer?: Answer): Promise<{ url: string; seen: Seen[] }> {
  const a = api(answer);
  const port = await listen(createHttpServer(a.handler), t);
  return { url: `http://127.0.0.1:${port}`, seen: a.seen };
}

const remote = (url: string, ...args: string[]) => runCli(["rotate", ...args, "--server", url, "--admin-token-file", tokenFile]);
const noToken = (t: Test, out: string) => t.notMatch(out, TOKEN, "the admin token is never printed");

t.test("rotate <service> --force --server: one POST per identity, the local report, exit 0", async (t) => {
  const { url, seen } = await httpApi(t);
  const r = await remote(url, "shop_api", "shop_billing", "--force");
  t.equal(r.code, 0, "exit 0", { stderr: r.stderr });
  t.match(r.stdout, /shop_api\s+rotated\s+v3 → v4\s+forced/, "the same table as a local rotate: shop_api v3 → v4");
  t.match(r.stdout, /shop_billing\s+rotated\s+v1 → v2/, "shop_billing (identity billing) v1 → v2");
  t.match(r.stdout, /2 rotated/, "summary");
  t.match(r.stderr, /shop_api: rotating through http:\/\/127\.0\.0\.1:\d+ \(forced\)/, "progress on stderr names the server");
  const posts = seen.filter((s) => s.method === "POST");
  t.same(posts.map((s) => s.url), ["/v1/services/shop_api/rotate", "/v1/services/billing/rotate"], "a service name is resolved to its identity");
  t.same(posts.map((s) => s.body), [{ force: true, dryRun: false }, { force: true, dryRun: false }], "body {force, dryRun}");
  t.ok(posts.every((s) => s.auth === `Bearer ${TOKEN}`), "the admin token as a bearer token");
  noToken(t, r.stdout + r.stderr);
});

t.test("--json prints the rotation report; --dry-run asks for a plan; --all asks POST /v1/rotate", async (t) => {
  const { url, seen } = await httpApi(t);
  const j = await remote(url, "billing", "--force", "--json");
  t.equal(j.code, 0);
  const report = JSON.parse(j.stdout) as { outcomes: { service: string; identity: string; result: string; generationBefore: number; generationAfter: number }[]; dryRun: boolean };
  t.match(report.outcomes, [{ service: "shop_billing", identity: "billing", result: "rotated", generationBefore: 1, generationAfter: 2 }], "the outcome, by identity name");
  t.equal(j.stderr, "", "nothing on stderr with --json");
  const dry = await remote(url, "shop_api", "--dry-run");
  t.equal(dry.code, 0);
  t.same(seen.at(-1)?.body, { force: false, dryRun: true }, "--dry-run is sent as dryRun");
  const all = await remote(url, "--all");
  t.equal(all.code, 0);
  t.equal(seen.at(-1)?.url, "/v1/rotate", "--all: POST /v1/rotate");
  t.match(all.stdout, /2 up-to-date/, "up-to-date services as a local rotate shows them");
});

t.test("exit codes as for a local rotate: 3 lease held, 1 a service failed, 2 unknown service or bad token", async (t) => {
  const held = await httpApi(t, (s) => (s.method === "POST" ? { status: 409, body: { error: { code: "lease-held", message: "another rotation is running (lease mtls.lock held by mgr:1 until …)" } } } : defaultAnswer(s)));
  const r3 = await remote(held.url, "shop_api", "--force");
  t.equal(r3.code, 3, "exit 3 when serve's lease is held");
  t.match(r3.stderr, /another rotation is running/, "with serve's message");

  const failing = await httpApi(t, (s) => (s.method === "POST"
    ? { status: 200, body: { outcomes: [{ identity: "shop_api", service: "shop_api", action: "failed", reason: "forced", generationBefore: 3, generationAfter: 3, error: "rolled back: task exited (1)" }] } }
    : defaultAnswer(s)));
  const r1 = await remote(failing.url, "shop_api", "--force");
  t.equal(r1.code, 1, "exit 1 when a service failed (and was rolled back)");
  t.match(r1.stdout, /shop_api\s+failed.*rolled back: task exited \(1\)/, "the failure in the table");

  const { url, seen } = await httpApi(t);
  const unknown = await remote(url, "nope", "--force");
  t.equal(unknown.code, 2, "exit 2 for a service the server does not manage");
  t.match(unknown.stderr, /no opted-in service or identity named 'nope'.*known: shop_api, shop_billing/, "names what the server knows");
  t.notOk(seen.some((s) => s.method === "POST"), "nothing was asked to rotate");

  const wrong = join(dir, "wrong-token");
  writeFileSync(wrong, "not-the-admin-token-at-all\n");
  const bad = await runCli(["rotate", "shop_api", "--force", "--server", url, "--admin-token-file", wrong]);
  t.equal(bad.code, 2, "exit 2 with a wrong token");
  t.match(bad.stderr, /admin credentials required.*check --admin-token-file/, "says to check the token file");
});

t.test("bad input: one line, exit 2, no request", async (t) => {
  const { url, seen } = await httpApi(t);
  const short = join(dir, "short");
  writeFileSync(short, "abc\n");
  const cases: [string[], RegExp][] = [
    [["rotate", "shop_api", "--server", url], /--server needs --admin-token-file/],
    [["rotate", "shop_api", "--admin-token-file", tokenFile], /go with --server/],
    [["rotate", "shop_api", "--server", "ftp://h:1", "--admin-token-file", tokenFile], /must start with https:\/\//],
    [["rotate", "shop_api", "--server", `${url}/v1`, "--admin-token-file", tokenFile], /without a path/],
    [["rotate", "shop_api", "--server", url.replace("127.0.0.1", "192.0.2.10"), "--admin-token-file", tokenFile], /would send the admin token in clear over the network; use https:\/\/192\.0\.2\.10:\d+ \(http:\/\/ only to 127\.0\.0\.1, ::1 or localhost\)/],
    [["rotate", "shop_api", "--server", "http://manager.example:8443", "--admin-token-file", tokenFile], /would send the admin token in clear/],
    [["rotate", "shop_api", "--server", url, "--admin-token-file", join(dir, "missing")], /--admin-token-file .*missing: cannot be read \(ENOENT\)/],
    [["rotate", "shop_api", "--server", url, "--admin-token-file", short], /at least 16 characters/],
    [["rotate", "shop_api", "--server", url, "--admin-token-file", tokenFile, "--concurrency", "2"], /--concurrency and --timeout apply to a local rotate/],
    [["rotate", "shop_api", "--server", url, "--admin-token-file", tokenFile, "--ca-file", tokenFile], /--ca-file .*no PEM certificate/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    t.equal(r.code, 2, `${args.slice(2).join(" ")}: exit 2`);
    t.match(r.stderr, message, "says what is wrong");
    t.equal(r.stderr.trim().split("\n").length, 1, "in one line");
  }
  t.same(seen, [], "the server was never asked");
});

t.test("HTTPS: verified with --ca-file; without it the certificate is refused and the message says what to pass", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const leaf = await issueLeaf(authority, { identity: "swarm-mtls-api", dnsNames: ["localhost"], ttlSeconds: 3600 });
  const a = api();
  const port = await listen(createHttpsServer({ key: leaf.keyPem as string, cert: leaf.chainPem }, a.handler), t);
  const rootFile = join(dir, "root.pem");
  writeFileSync(rootFile, bundlePem(authority));
  const url = `https://localhost:${port}`;
  const ok = await runCli(["rotate", "shop_api", "--force", "--server", url, "--admin-token-file", tokenFile, "--ca-file", rootFile]);
  t.equal(ok.code, 0, "exit 0 with the CA's root", { stderr: ok.stderr });
  t.match(ok.stdout, /shop_api\s+rotated\s+v3 → v4/, "rotated through HTTPS");
  const posts = a.seen.length;
  const refused = await remote(url, "shop_api", "--force");
  t.equal(refused.code, 1, "exit 1 without --ca-file (the API's certificate is not trusted)");
  t.match(refused.stderr, /pass --ca-file with the CA's root/, "and says to pass --ca-file");

  // Called by a name the certificate lacks, with the right root: the error says so, and does not advise --ca-file.
  const byIp = await runCli(["rotate", "shop_api", "--force", "--server", `https://127.0.0.1:${port}`, "--admin-token-file", tokenFile, "--ca-file", rootFile]);
  t.equal(byIp.code, 1, "exit 1: the name does not match");
  t.match(byIp.stderr, "the API's certificate does not name '127.0.0.1' (it names DNS:localhost): call the server by one of its names, or add '127.0.0.1' to api.names of the CA service (SWARM_MTLS_API_NAMES) and restart it");
  t.notMatch(byIp.stderr, /pass --ca-file/, "no advice to pass the --ca-file that was given");

  // Another CA's root in --ca-file: says the certificate is not issued by it.
  const { authority: other } = await createAuthority({ trustDomain: "example.org" });
  const otherFile = join(dir, "other-root.pem");
  writeFileSync(otherFile, bundlePem(other));
  const wrongRoot = await runCli(["rotate", "shop_api", "--force", "--server", url, "--admin-token-file", tokenFile, "--ca-file", otherFile]);
  t.equal(wrongRoot.code, 1);
  t.match(wrongRoot.stderr, `the API's certificate is not issued by a root in --ca-file ${otherFile} (`, "names the --ca-file that does not fit");
  t.equal(a.seen.length, posts, "no request reached the server without a verified certificate");
});

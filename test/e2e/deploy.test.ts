/**
 * swarm-mtls deployed for real, as operators deploy it: `docker stack deploy -c docker-compose.test.yml` on the
 * sandbox swarm, with images built by scripts/build-local-images.sh (no registry). The CA runs as a stack service
 * with the Docker socket and the swarm's key-encryption key; `echo` (2 replicas, start-first) and `client` are
 * opted in with labels and talk mTLS to each other inside an encrypted internal overlay.
 *
 * What a user would see, checked here:
 *   1. the CA service becomes ready and `echo` serves a certificate of our CA, with the client's SPIFFE ID seen;
 *   2. three forced rotations of `echo` through the CA's HTTP API, each under a bounded loop of mTLS requests from
 *      `client`: zero failed requests, and the served serial changes each time;
 *   3. no client certificate, and a client certificate of a foreign CA (same SPIFFE ID), are refused;
 *   4. `docker stack deploy` again with the same file: the certificates are re-attached without a new issue and
 *      traffic flows;
 *   5. `docker stack rm`: what is left is only what the README documents (each identity's current generation and
 *      one previous one; the shared trust bundle), and the documented `docker secret ls --filter label=...`
 *      command finds it for the operator to remove.
 *
 * Isolation: other test files run against the same swarm at the same time, some of them with services labelled
 * `mtls.enable=true`. The test therefore deploys a copy of docker-compose.test.yml whose `mtls.*` service labels
 * are renamed to the prefix `mtlse2e.` (and the CA service is told so with SWARM_MTLS_LABEL_PREFIX, with its own
 * lease name); everything else is the file as committed.
 */
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parseDocument } from "yaml";
import { REPO, runCli, swarmTestEnv, testCa } from "../helpers/cli.js";
import { docker, freePort, requireSwarmCli, sh, until } from "../helpers/swarm-test.js";

const STACK = "mtlse2e";
const PREFIX = "mtlse2e.";
const ECHO = `${STACK}_echo`;
const CLIENT = `${STACK}_client`;
const IDENTITIES = [ECHO, CLIENT];
const NO_SWARM = "no swarm reachable: run scripts/swarm-sandbox.sh up (the e2e test deploys a stack on it)";

const normSerial = (s: string | null | undefined): string => (s ?? "").toLowerCase().replace(/^0+/, "");

// ---- preconditions: a swarm manager and the shared test CA; fail loudly, never skip ----
await requireSwarmCli({ noSwarm: NO_SWARM });
const world = swarmTestEnv();
const ca = testCa();
if (!(await docker("secret", "ls", "--format", "{{.Name}}", "--filter", `name=${ca.kekSecretName}`)).split("\n").includes(ca.kekSecretName)) {
  throw new Error(`the secret ${ca.kekSecretName} is missing: scripts/test.sh makes the test CA (swarm-mtls init --store swarm)`);
}

// ---- the swarm's CA, as the CLI shows it (the trust anchor for everything below) ----
interface CaCert { role: string; pem: string; fingerprint: string }
const caShow = await runCli(["ca", "show", "--json"], { env: world.env, timeoutMs: 60_000 });
if (caShow.code !== 0) throw new Error(`swarm-mtls ca show failed: ${caShow.stderr}`);
const caCerts = (JSON.parse(caShow.stdout) as { certificates: CaCert[]; trustDomain: string }).certificates;
const rootPem = caCerts.filter((c) => c.role === "root").map((c) => c.pem).join("");
const intermediate = new X509Certificate((caCerts.find((c) => c.role === "intermediate") as CaCert).pem);
const trustDomain = (JSON.parse(caShow.stdout) as { trustDomain: string }).trustDomain;

// ---- test-run files: admin token, ports, the stack file with this test's label prefix ----
const dir = mkdtempSync(join(tmpdir(), "e2e-deploy-"));
const token = randomBytes(24).toString("hex");
const tokenFile = join(dir, "admin-token");
writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
const caPort = await freePort();
const clientPort = await freePort();
const stackEnv = { E2E_ADMIN_TOKEN_FILE: tokenFile, E2E_CA_PORT: String(caPort), E2E_CLIENT_PORT: String(clientPort) };
const stackFile = join(dir, "docker-compose.test.yml");
{
  const doc = parseDocument(readFileSync(join(REPO, "docker-compose.test.yml"), "utf8"));
  const services = doc.toJS().services as Record<string, { deploy?: { labels?: Record<string, string> }; environment?: Record<string, string> }>;
  for (const [name, s] of Object.entries(services)) {
    const labels = s.deploy?.labels;
    if (labels) {
      doc.setIn(["services", name, "deploy", "labels"], Object.fromEntries(Object.entries(labels).map(([k, v]) => [k.startsWith("mtls.") ? PREFIX + k.slice(5) : k, v])));
    }
  }
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_LABEL_PREFIX"], PREFIX);
  // The test CA has names of its own (see testCa()): the CA service reads that CA and mounts its key-encryption key.
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_CA_STATE_NAME"], ca.caStateName);
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_KEK_SECRET_NAME"], ca.kekSecretName);
  if (doc.getIn(["services", "ca", "secrets", 0, "source"]) !== "swarm-mtls-kek") throw new Error("docker-compose.test.yml: the ca service's first secret must be swarm-mtls-kek");
  doc.setIn(["services", "ca", "secrets", 0, "target"], ca.kekSecretName);
  doc.setIn(["secrets", "swarm-mtls-kek", "name"], ca.kekSecretName);
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_ROTATION_LEASE_NAME"], `mtls.lock.${STACK}`);
  writeFileSync(stackFile, doc.toString());
}
const deployStack = () => sh("docker", ["stack", "deploy", "-c", stackFile, STACK], { env: stackEnv, timeoutMs: 120_000 });

interface SecretInfo { ID: string; Spec: { Name: string; Labels: Record<string, string> } }
async function managedSecrets(identity: string): Promise<SecretInfo[]> {
  const ids = (await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${identity}`)).split("\n").filter(Boolean);
  const out: SecretInfo[] = [];
  // One at a time: a secret listed a moment ago may be gone by now (pruned); that one is simply not there.
  for (const id of ids) out.push(...(await docker("secret", "inspect", id).then((j) => JSON.parse(j) as SecretInfo[], () => [])));
  return out;
}
async function stackGone(): Promise<true | undefined> {
  const services = (await docker("service", "ls", "-q", "--filter", `label=com.docker.stack.namespace=${STACK}`)).trim();
  const networks = (await docker("network", "ls", "-q", "--filter", `label=com.docker.stack.namespace=${STACK}`)).trim();
  const containers = (await docker("ps", "-aq", "--filter", `label=com.docker.stack.namespace=${STACK}`)).trim();
  return services === "" && networks === "" && containers === "" ? true : undefined;
}
async function removeStackAndSecrets(): Promise<void> {
  await docker("stack", "rm", STACK).catch(() => undefined);
  await until(`stack ${STACK} to be removed`, 90_000, stackGone);
  for (const id of IDENTITIES) for (const s of await managedSecrets(id)) await docker("secret", "rm", s.ID).catch(() => undefined);
}

/** The generation of `identity`'s crt secret the service's spec references now (null: none). */
async function attachedGeneration(service: string, identity: string): Promise<number | null> {
  const [s] = JSON.parse(await docker("service", "inspect", service)) as { Spec: { TaskTemplate: { ContainerSpec: { Secrets?: { SecretName: string }[] } } } }[];
  const re = new RegExp(`^mtls\\.${identity}\\.crt\\.v(\\d+)$`);
  for (const ref of s?.Spec.TaskTemplate.ContainerSpec.Secrets ?? []) {
    const m = re.exec(ref.SecretName);
    if (m) return Number(m[1]);
  }
  return null;
}
interface TaskInfo { Status: { State: string }; Spec: { ContainerSpec: { Secrets?: { SecretName: string }[] } } }
/**
 * True once `service` is at rest on generation `generation` of its certificate: the spec references it, no update
 * or rollback is in flight, and every task meant to run runs with it (as many as the spec's replicas).
 */
async function settledOn(service: string, generation: number): Promise<true | undefined> {
  const [s] = JSON.parse(await docker("service", "inspect", service)) as { Spec: { Mode: { Replicated?: { Replicas: number } } }; UpdateStatus?: { State?: string } }[];
  if (!s || (await attachedGeneration(service, service)) !== generation) return undefined;
  const updating = s.UpdateStatus?.State;
  if (updating && updating !== "completed" && updating !== "rollback_completed") return undefined;
  const ids = (await docker("service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", service)).split("\n").filter(Boolean);
  if (ids.length !== (s.Spec.Mode.Replicated?.Replicas ?? 1)) return undefined;
  const tasks = JSON.parse(await docker("inspect", "--type", "task", ...ids)) as TaskInfo[];
  const crt = `mtls.${service}.crt.v${generation}`;
  return tasks.every((k) => k.Status.State === "running" && (k.Spec.ContainerSpec.Secrets ?? []).some((r) => r.SecretName === crt)) ? true : undefined;
}
async function serialOf(identity: string, generation: number): Promise<string> {
  const [s] = JSON.parse(await docker("secret", "inspect", `mtls.${identity}.crt.v${generation}`)) as SecretInfo[];
  return normSerial(s?.Spec.Labels["io.swarm-mtls.serial"]);
}

/** The CA's HTTPS API on the host-mode port, verified against the swarm's root (the API certificate names localhost). */
function caApi(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest({
      host: "127.0.0.1", port: caPort, path, method, servername: "localhost", ca: rootPem, timeout: 180_000,
      headers: { ...(data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}), authorization: `Bearer ${token}` },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
        } catch {
          resolve({ status: res.statusCode ?? 0, json: text });
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on("error", reject);
    req.end(data);
  });
}

/** The client service's control API (plain HTTP on its host-mode port). */
async function client(method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`http://127.0.0.1:${clientPort}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  if (!r.ok) throw new Error(`client ${method} ${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}
interface RunView { id: string; state: string; requests: number; ok: number; failed: number; retries: number; serials: Record<string, number>; lastSerial: string | null; peers: Record<string, number>; errors: { error: string }[] }

const cleanupOnExit = async () => {
  if (process.env.E2E_KEEP_STACK === "1") return;
  await removeStackAndSecrets().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
};
t.teardown(cleanupOnExit);

// ---- 0. images and a clean slate ----
await t.test("local images build without a registry", async (t) => {
  const out = await sh("bash", ["scripts/build-local-images.sh"], { timeoutMs: 300_000 });
  t.match(out, /swarm-mtls\/ca:local/, "the swarm-mtls image");
  t.match(out, /swarm-mtls\/echo:local/, "the echo/client image");
  const version = await docker("run", "--rm", "swarm-mtls/ca:local", "--version");
  t.equal(version.trim(), "0.1.0", "the image runs swarm-mtls with production dependencies only");
  // A stack left by an interrupted run goes first (with its identities' secrets), so that every number below is ours.
  await removeStackAndSecrets();
  t.pass(`no stack ${STACK} and no managed secret of its identities`);
});

let echoGen = 0;
let echoSerial = "";
const clientSpiffe = `spiffe://${trustDomain}/swarm/${STACK}/client`;

await t.test("docker stack deploy: the CA becomes ready and echo serves a certificate of our CA", async (t) => {
  const out = await deployStack();
  t.match(out, /Creating service mtlse2e_ca/, "the stack deploys");
  const ready = await until("the CA service's /readyz", 150_000, async () => {
    const r = await caApi("GET", "/readyz");
    return r.status === 200 ? r.json : undefined;
  });
  t.same(ready, { ready: true }, "GET /readyz over HTTPS, verified against the swarm's root, with the name localhost");
  const once = await until("client → echo over mTLS with a certificate of our CA", 150_000, async () => {
    const gen = await attachedGeneration(ECHO, ECHO);
    if (gen === null) return undefined;
    const r = await client("GET", "/once");
    if (!r.ok) throw new Error(r.error);
    return normSerial(r.servedSerial) === (await serialOf(ECHO, gen)) ? { r, gen } : undefined;
  });
  echoGen = once.gen;
  echoSerial = normSerial(once.r.servedSerial);
  const clientGen = await attachedGeneration(CLIENT, CLIENT);
  await until("echo and client at rest on their certificates", 120_000, async () => (clientGen !== null && (await settledOn(ECHO, echoGen)) && (await settledOn(CLIENT, clientGen))) || undefined);
  t.equal(normSerial(once.r.serial), echoSerial, "echo reports the serial of the certificate it serves");
  t.equal(once.r.peer, clientSpiffe, "echo sees the client's SPIFFE ID");
  const served = new X509Certificate(once.r.servedChainPem as string);
  t.ok(served.checkIssued(intermediate) && served.verify(intermediate.publicKey), "the served certificate is signed by the swarm's intermediate");
  t.ok(served.subjectAltName?.includes("DNS:tasks.echo"), "and names tasks.echo", { san: served.subjectAltName });
  const services = await caApi("GET", "/v1/services");
  t.same(services.json.services.map((s: { identity: string }) => s.identity).sort(), IDENTITIES.slice().sort(), "GET /v1/services lists exactly the stack's two identities");
});

await t.test("three forced rotations of echo under traffic: zero failed requests, a new serial each time", async (t) => {
  t.ok(echoSerial, "echo served a certificate before");
  if (!echoSerial) return;
  for (let i = 1; i <= 3; i++) {
    const before = echoSerial;
    const started = (await client("POST", "/runs", { maxRequests: 400, maxMs: 60_000, intervalMs: 100 })) as RunView;
    await until("the client's loop to have answers before the rotation", 20_000, async () => ((await client("GET", `/runs/${started.id}`)) as RunView).ok >= 5 || undefined);
    // The lease may be held for a moment by the reconcile our own previous update triggered: 409, try again.
    const rotated = await until(`rotation ${i} through the API`, 120_000, async () => {
      const r = await caApi("POST", `/v1/services/${ECHO}/rotate`, { force: true });
      if (r.status === 409) return undefined;
      if (r.status !== 200) throw new Error(`HTTP ${r.status} ${JSON.stringify(r.json)}`);
      return r.json as { outcomes: { action: string; generationBefore: number; generationAfter: number; error?: string }[] };
    });
    const o = rotated.outcomes[0];
    t.equal(o?.action, "rotated", `rotation ${i}: rotated`, { outcome: o });
    t.equal(o?.generationAfter, echoGen + 1, `rotation ${i}: generation ${echoGen} → ${echoGen + 1}`);
    echoGen = o?.generationAfter ?? echoGen + 1;
    echoSerial = await serialOf(ECHO, echoGen);
    await until(`the client to see serial ${echoSerial}`, 60_000, async () => (((await client("GET", `/runs/${started.id}`)) as RunView).lastSerial === echoSerial ? true : undefined)).catch(() => undefined);
    await client("POST", `/runs/${started.id}/stop`);
    const done = await until("the client's loop to finish", 30_000, async () => {
      const r = (await client("GET", `/runs/${started.id}`)) as RunView;
      return r.state === "done" ? r : undefined;
    });
    const seen = Object.keys(done.serials).map(normSerial);
    t.equal(done.failed, 0, `rotation ${i}: zero failed requests out of ${done.requests} (${done.retries} retried on the next task)`, { errors: done.errors });
    t.ok(done.requests <= 400, `rotation ${i}: a bounded loop (${done.requests} requests)`);
    t.not(echoSerial, before, `rotation ${i}: the served serial changed`);
    t.ok(seen.includes(before) && seen.includes(echoSerial), `rotation ${i}: the client saw the old serial, then the new one`, { seen, before, after: echoSerial });
    t.same(Object.keys(done.peers), [clientSpiffe], `rotation ${i}: every answer saw the client's identity`);
  }
});

await t.test("no client certificate, and a certificate from a foreign CA, are refused", async (t) => {
  const own = await client("GET", "/once");
  t.equal(own.ok, true, "control: the client's own certificate is accepted");
  const none = await client("POST", "/probe", {});
  t.equal(none.refused, true, "no client certificate: refused");
  t.not(none.code, "EXHAUSTED", "by the TLS handshake, not for lack of a task", { error: none.error });
  t.match(String(none.error), /certificate|alert|ECONNRESET|hang up/i, "the handshake fails", { error: none.error });

  // A foreign CA with the same trust domain issues a certificate carrying the client's very SPIFFE ID.
  const foreign = join(dir, "foreign");
  const store = ["--store", `file:${foreign}`];
  const init = await runCli(["init", "--trust-domain", trustDomain, ...store], { timeoutMs: 60_000 });
  t.equal(init.code, 0, "a foreign CA (file store)", { stderr: init.stderr });
  const issue = await runCli(["issue", "client", "--stack", STACK, "--dns", "client", "--out", join(foreign, "client"), ...store], { timeoutMs: 60_000 });
  t.equal(issue.code, 0, "a certificate for the client's SPIFFE ID from it", { stderr: issue.stderr });
  const cert = readFileSync(join(foreign, "client", "tls.crt"), "utf8");
  t.ok(new X509Certificate(cert).subjectAltName?.includes(`URI:${clientSpiffe}`), "same SPIFFE ID as the real client");
  const bad = await client("POST", "/probe", { cert, key: readFileSync(join(foreign, "client", "tls.key"), "utf8") });
  t.equal(bad.refused, true, "a foreign CA's certificate: refused");
  t.not(bad.code, "EXHAUSTED", "by the TLS handshake, not for lack of a task", { error: bad.error });
});

await t.test("docker stack deploy again: certificates re-attached without a new issue, traffic flows", async (t) => {
  const clientGen = await attachedGeneration(CLIENT, CLIENT);
  const names = async () => (await managedSecrets(ECHO)).map((s) => s.Spec.Name).sort();
  const echoNamesBefore = await names();
  const clientNamesBefore = (await managedSecrets(CLIENT)).map((s) => s.Spec.Name).sort();
  const out = await deployStack();
  t.match(out, /Updating service mtlse2e_echo/, "the stack file is deployed again (the spec names no managed secret)");
  await until("echo and client re-attached, at rest, and answering", 150_000, async () => {
    // The old tasks keep answering while Swarm rolls the stack's spec and swarm-mtls re-attaches: wait until both
    // services are at rest on their certificates, then ask.
    if (clientGen === null || !(await settledOn(ECHO, echoGen)) || !(await settledOn(CLIENT, clientGen))) return undefined;
    const r = await client("GET", "/once");
    return r.ok && normSerial(r.serial) === echoSerial ? true : undefined;
  });
  t.pass(`echo back on generation ${echoGen}, client on generation ${clientGen}`);
  t.same(await names(), echoNamesBefore, "no new echo certificate was issued (docker secret ls)");
  t.same((await managedSecrets(CLIENT)).map((s) => s.Spec.Name).sort(), clientNamesBefore, "no new client certificate was issued");
  const started = (await client("POST", "/runs", { maxRequests: 50, maxMs: 15_000, intervalMs: 100 })) as RunView;
  const done = await until("the client's loop after the redeploy", 40_000, async () => {
    const r = (await client("GET", `/runs/${started.id}`)) as RunView;
    return r.state === "done" ? r : undefined;
  });
  t.ok(done.ok > 0 && done.failed === 0, `traffic flows: ${done.ok} answered, ${done.failed} failed`, { errors: done.errors });
  t.same(Object.keys(done.serials).map(normSerial), [echoSerial], "on the same certificate");
});

await t.test("docker stack rm leaves only what the README documents", async (t) => {
  await docker("stack", "rm", STACK);
  await until(`stack ${STACK} to be removed`, 90_000, stackGone);
  t.pass("services, networks and containers of the stack are gone");
  const stackSecrets = (await docker("secret", "ls", "--format", "{{.Name}}", "--filter", `label=com.docker.stack.namespace=${STACK}`)).trim();
  t.equal(stackSecrets, "", "the stack's own secret (the admin token) went with it");
  const configs = (await docker("config", "ls", "--format", "{{.Name}}")).split("\n").filter((n) => n.includes(STACK));
  t.same(configs, [], "no config of the stack's identities is left");
  t.equal((await docker("config", "ls", "-q", "--filter", `name=mtls.lock.${STACK}`)).trim(), "", "the CA's lease was released");
  // What remains, as documented: each identity's current generation and at most one previous one (rotation.keepPrevious).
  const echoLeft = (await managedSecrets(ECHO)).map((s) => s.Spec.Name).sort();
  t.same(echoLeft, [`mtls.${ECHO}.crt.v${echoGen - 1}`, `mtls.${ECHO}.crt.v${echoGen}`, `mtls.${ECHO}.key.v${echoGen - 1}`, `mtls.${ECHO}.key.v${echoGen}`].sort(), "echo: its current and one previous generation");
  const clientLeft = (await managedSecrets(CLIENT)).map((s) => s.Spec.Name);
  t.ok(clientLeft.length === 2 && clientLeft.every((n) => n.startsWith(`mtls.${CLIENT}.`)), "client: its one generation", { clientLeft });
  // The operator removes them with the documented filter.
  for (const id of IDENTITIES) {
    const ids = (await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${id}`)).split("\n").filter(Boolean);
    if (ids.length) await docker("secret", "rm", ...ids);
  }
  t.same([...(await managedSecrets(ECHO)), ...(await managedSecrets(CLIENT))], [], "`docker secret rm $(docker secret ls -q --filter label=io.swarm-mtls.identity=<identity>)` leaves nothing");
});

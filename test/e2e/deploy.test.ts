/**
 * swarm-mtls deployed for real, as operators deploy it: `docker stack deploy -c config/swarm-mtls.stack.yml -c
 * docker-compose.test.yml` on the sandbox swarm, with images built by scripts/build-local-images.sh (no registry).
 * The CA service is the production stack file itself (the test file only swaps in the local image, a faster
 * schedule and a file-made admin token); it runs with the Docker socket and the swarm's key-encryption key. `echo`
 * (2 replicas, start-first) and `client` are opted in with labels and talk mTLS to each other inside an encrypted
 * internal overlay.
 *
 * What a user would see, checked here:
 *   1. the deployed `ca` service is the production file's; it becomes ready and `echo` serves a certificate of our CA,
 *      with the client's SPIFFE ID seen;
 *   2. three `swarm-mtls rotate echo --force --server https://<manager>:PORT` (the node's host name, as README step 6
 *      says; the stack file gives it to the API certificate with `{{.Node.Hostname}}`) through the CA's API, each under a
 *      bounded loop of mTLS requests from `client`: zero failed requests, and the served serial changes each time;
 *   3. no client certificate, and a client certificate of a foreign CA (same SPIFFE ID), are refused;
 *   4. `docker stack deploy` again with the same files: the certificates are re-attached without a new issue and
 *      traffic flows;
 *   5. `swarm-mtls prune --stack` refuses while the services run; after `docker stack rm` it removes every managed
 *      secret and config of the stack's identities and nothing else, keeping the trust bundle as asked
 *      (`--keep-bundle`: the test CA's bundle is shared with the other test files running at the same time).
 *
 * Isolation: other test files run against the same swarm at the same time, some of them with services labelled
 * `mtls.enable=true`. The test therefore deploys a copy of docker-compose.test.yml whose `mtls.*` service labels
 * are renamed to the prefix `mtlse2e.` (and the CA service is told so with SWARM_MTLS_LABEL_PREFIX, with its own
 * lease name, and pointed at the test CA's names); config/swarm-mtls.stack.yml is deployed as committed.
 */
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parseDocument } from "yaml";
import { REPO, runCli, swarmTestEnv, testCa } from "../helpers/cli.js";
import { docker, freePort, leaseFree, requireSwarmCli, sh, until } from "../helpers/swarm-test.js";

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
// The manager's host name as Swarm knows it: what `{{.Node.Hostname}}` gives the CA service, and what an operator
// types in `--server https://<manager>:8443`.
const MANAGER = (await docker("node", "inspect", "self", "--format", "{{.Description.Hostname}}")).trim();
const clientPort = await freePort();
const stackEnv = { E2E_ADMIN_TOKEN_FILE: tokenFile, SWARM_MTLS_API_PORT: String(caPort), E2E_CLIENT_PORT: String(clientPort) };
const rootFile = join(dir, "root.pem");
writeFileSync(rootFile, rootPem);
const LEASE = `mtls.lock.${STACK}`;
const productionFile = join(REPO, "config/swarm-mtls.stack.yml");
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
  // Merged over the production file's `ca` (docker stack deploy merges environment maps and top-level secrets).
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_LABEL_PREFIX"], PREFIX);
  // The test CA has names of its own (see testCa()): the CA service reads that CA and mounts its key-encryption key
  // (the external secret swarm-mtls-kek of the production file, renamed) at the production file's target.
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_CA_STATE_NAME"], ca.caStateName);
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_KEK_SECRET_NAME"], ca.kekSecretName);
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_KEK_FILE"], "/run/secrets/swarm-mtls-kek");
  doc.setIn(["secrets", "swarm-mtls-kek"], doc.createNode({ external: true, name: ca.kekSecretName }));
  doc.setIn(["services", "ca", "environment", "SWARM_MTLS_ROTATION_LEASE_NAME"], LEASE);
  writeFileSync(stackFile, doc.toString());
}
const stackFiles = ["-c", productionFile, "-c", stackFile];
const deployStack = () => sh("docker", ["stack", "deploy", ...stackFiles, STACK], { env: stackEnv, timeoutMs: 120_000 });
/** The CLI as the operator of this stack runs it on a manager: the test CA, the stack's label prefix and lease. */
const operatorEnv = { ...world.env, SWARM_MTLS_LABEL_PREFIX: PREFIX, SWARM_MTLS_ROTATION_LEASE_NAME: LEASE };

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
/** For a wait that gave up: each service's update state and attached generation, and the CA's last log lines. */
async function rolloutsNow(): Promise<string> {
  const states: string[] = [];
  for (const svc of [ECHO, CLIENT]) {
    const st = await docker("service", "inspect", "--format", "{{json .UpdateStatus}}", svc).catch((e: Error) => e.message);
    states.push(`${svc}: generation ${await attachedGeneration(svc, svc).catch(() => "?")}, update ${st.trim()}`);
  }
  const log = await sh("sh", ["-c", `docker service logs --raw --tail 15 ${STACK}_ca 2>&1`]).catch((e: Error) => e.message);
  return `${states.join("; ")}; the CA's last lines: ${log.split("\n").filter((l) => /"component":"(serve|rollout)"/.test(l)).join(" ").slice(-2500)}`;
}
async function serialOf(identity: string, generation: number): Promise<string> {
  const [s] = JSON.parse(await docker("secret", "inspect", `mtls.${identity}.crt.v${generation}`)) as SecretInfo[];
  return normSerial(s?.Spec.Labels["io.swarm-mtls.serial"]);
}

/**
 * One JSON call over Node's own http/https on a connection of its own, ended by a timeout of its own. (Not fetch: on
 * Node 20 a fetch on a pooled keep-alive socket can leave nothing holding the event loop, and the file then ends
 * in the middle of a wait.)
 */
function jsonCall(send: typeof httpRequest, options: RequestOptions, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = { ...options.headers, ...(data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}) };
    const req = send({ ...options, headers, agent: false }, (res) => {
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
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${options.method} ${options.path}: timeout`)));
    req.on("error", reject);
    req.end(data);
  });
}

/** The CA's HTTPS API on the host-mode port, called by the manager's host name and verified against the swarm's root. */
function caApi(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return jsonCall(httpsRequest as typeof httpRequest, {
    host: MANAGER, port: caPort, path, method, servername: MANAGER, ca: rootPem, timeout: 180_000, headers: { authorization: `Bearer ${token}` },
  } as RequestOptions, body);
}

/** The client service's control API (plain HTTP on its host-mode port). */
async function client(method: string, path: string, body?: unknown): Promise<any> {
  const r = await jsonCall(httpRequest, { host: "127.0.0.1", port: clientPort, path, method, timeout: 30_000 }, body);
  if (r.status < 200 || r.status > 299) throw new Error(`client ${method} ${path}: HTTP ${r.status} ${typeof r.json === "string" ? r.json : JSON.stringify(r.json)}`);
  return r.json;
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
  // The `ca` that gets deployed is the production file's: the test file changes only its image and adds environment.
  const config = async (...files: string[]) => {
    const ca = (parseDocument(await sh("docker", ["stack", "config", ...files.flatMap((f) => ["-c", f])], { env: stackEnv })).toJS() as { services: Record<string, Record<string, unknown>> }).services.ca ?? {};
    // A merge lists secrets in its own order: compare them by source.
    (ca.secrets as { source: string }[] | undefined)?.sort((a, b) => a.source.localeCompare(b.source));
    return ca;
  };
  const production = await config(productionFile);
  const deployed = await config(productionFile, stackFile);
  const { image: prodImage, environment: prodEnv, ...prodRest } = production;
  const { image: image, environment: env, ...rest } = deployed;
  t.same(rest, prodRest, "every setting of the deployed ca service but image and environment is config/swarm-mtls.stack.yml's");
  t.match(env, prodEnv as object, "its environment keeps the production file's");
  t.equal(prodImage, "swarm-mtls:0.1.0", "the production image");
  t.equal(image, "swarm-mtls/ca:local", "the same image made without a registry");
  const out = await deployStack();
  t.match(out, /Creating service mtlse2e_ca/, "the stack deploys");
  const ready = await until("the CA service's /readyz", 150_000, async () => {
    const r = await caApi("GET", "/readyz");
    return r.status === 200 ? r.json : undefined;
  });
  t.same(ready, { ready: true }, "GET /readyz over HTTPS, verified against the swarm's root, by the manager's host name");
  const once = await until("client → echo over mTLS with a certificate of our CA", 150_000, async () => {
    const gen = await attachedGeneration(ECHO, ECHO);
    if (gen === null) return undefined;
    const r = await client("GET", "/once");
    if (!r.ok) throw new Error(r.error);
    return normSerial(r.servedSerial) === (await serialOf(ECHO, gen)) ? { r, gen } : undefined;
  });
  echoGen = once.gen;
  echoSerial = normSerial(once.r.servedSerial);
  // The client's generation is read on every poll: a reconcile may still attach a newer one while we wait.
  // Each is a start-first rollout watched through its health checks (about a minute per service on a busy machine).
  // What Docker and the CA said is read when the wait gives up, not when it starts.
  await until("echo and client at rest on their certificates", 300_000, async () => {
    const clientGen = await attachedGeneration(CLIENT, CLIENT);
    return (clientGen !== null && (await settledOn(ECHO, echoGen)) && (await settledOn(CLIENT, clientGen))) || undefined;
  }).catch(async (e: Error) => {
    throw new Error(`${e.message} (${await rolloutsNow()})`);
  });
  t.equal(normSerial(once.r.serial), echoSerial, "echo reports the serial of the certificate it serves");
  t.equal(once.r.peer, clientSpiffe, "echo sees the client's SPIFFE ID");
  const served = new X509Certificate(once.r.servedChainPem as string);
  t.ok(served.checkIssued(intermediate) && served.verify(intermediate.publicKey), "the served certificate is signed by the swarm's intermediate");
  t.ok(served.subjectAltName?.includes("DNS:tasks.echo"), "and names tasks.echo", { san: served.subjectAltName });
  const services = await caApi("GET", "/v1/services");
  t.same(services.json.services.map((s: { identity: string }) => s.identity).sort(), IDENTITIES.slice().sort(), "GET /v1/services lists exactly the stack's two identities");
});

const rotateThroughApi = () =>
  runCli(["rotate", ECHO, "--force", "--server", `https://${MANAGER}:${caPort}`, "--admin-token-file", tokenFile, "--ca-file", rootFile, "--json"], { timeoutMs: 600_000 });

await t.test("three forced rotations of echo under traffic: zero failed requests, a new serial each time", async (t) => {
  t.ok(echoSerial, "echo served a certificate before");
  if (!echoSerial) return;
  for (let i = 1; i <= 3; i++) {
    const before = echoSerial;
    // The reconcile our own previous update triggered holds the CA's lease for a while: let it finish first, so that
    // the bounded loop below is spent on the rotation.
    await until("the CA service's lease to be free", 180_000, async () => ((await leaseFree(LEASE)) ? true : undefined));
    const started = (await client("POST", "/runs", { maxRequests: 400, maxMs: 60_000, intervalMs: 100 })) as RunView;
    await until("the client's loop to have answers before the rotation", 20_000, async () => ((await client("GET", `/runs/${started.id}`)) as RunView).ok >= 5 || undefined);
    // `swarm-mtls rotate` asks the CA service, which rotates under its lease. If a scheduled reconcile took the lease
    // meanwhile: exit 3, as for a local rotate; try again. Any other exit is final (never rotate twice).
    const t0 = Date.now();
    let r = await rotateThroughApi();
    while (r.code === 3 && Date.now() - t0 < 180_000) {
      await new Promise((w) => setTimeout(w, 1000));
      r = await rotateThroughApi();
    }
    const seconds = Math.round((Date.now() - t0) / 1000);
    t.equal(r.code, 0, `rotation ${i}: swarm-mtls rotate --server exits 0 (${seconds}s)`, { stderr: r.stderr });
    if (r.code !== 0) return;
    const rotated = JSON.parse(r.stdout) as { outcomes: { service: string; result: string; generationBefore: number | null; generationAfter: number | null; error?: string }[] };
    const o = rotated.outcomes[0];
    t.equal(o?.result, "rotated", `rotation ${i}: swarm-mtls rotate ${ECHO} --force --server …: rotated`, { outcome: o });
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

/** Names of every managed secret and config of the stack's identities (the docker CLI as the oracle). */
async function stackObjects(): Promise<string[]> {
  const names: string[] = [];
  for (const id of IDENTITIES) {
    names.push(...(await managedSecrets(id)).map((s) => s.Spec.Name));
    names.push(...(await docker("config", "ls", "--format", "{{.Name}}", "--filter", `label=io.swarm-mtls.identity=${id}`)).split("\n").filter(Boolean));
  }
  return names.sort();
}
interface PruneJson { objects: { type: string; name: string; kind: string; identity: string | null; result: string; why: string; usedBy: string[] }[]; removed: number }
/** `swarm-mtls prune` as the operator runs it; exit 3 (a reconcile holds the lease) is tried again. */
const pruneCli = (...args: string[]) =>
  until(`swarm-mtls prune ${args.join(" ")}`, 120_000, async () => {
    const r = await runCli(["prune", ...args], { env: operatorEnv, timeoutMs: 120_000 });
    return r.code === 3 ? undefined : r;
  });

await t.test("swarm-mtls prune refuses what the running stack uses", async (t) => {
  const before = await stackObjects();
  t.ok(before.length >= 4, `the stack's identities have their secrets (${before.length})`);
  const r = await pruneCli("--stack", STACK);
  t.equal(r.code, 1, "exit 1: something in scope is still in use", { stderr: r.stderr });
  t.match(r.stdout, new RegExp(`still in use, kept: ${ECHO} \\(service ${ECHO}\\)`), "names the service that uses echo's identity");
  t.match(r.stdout, /removed 0/, "removed nothing");
  t.same(await stackObjects(), before, "docker secret ls: every secret is still there");
});

await t.test("docker stack rm, then swarm-mtls prune --stack removes everything of the stack's identities", async (t) => {
  await docker("stack", "rm", STACK);
  await until(`stack ${STACK} to be removed`, 90_000, stackGone);
  t.pass("services, networks and containers of the stack are gone");
  const stackSecrets = (await docker("secret", "ls", "--format", "{{.Name}}", "--filter", `label=com.docker.stack.namespace=${STACK}`)).trim();
  t.equal(stackSecrets, "", "the stack's own secret (the admin token) went with it");
  t.ok(await leaseFree(LEASE), "the CA's lease was released");
  const left = await stackObjects();
  // Without prune: each identity's current generation and one previous one (rotation.keepPrevious) stay behind.
  t.ok(left.includes(`mtls.${ECHO}.crt.v${echoGen}`) && left.includes(`mtls.${ECHO}.key.v${echoGen - 1}`), "docker stack rm left echo's current and previous generation", { left });

  const dry = await pruneCli("--stack", STACK, "--keep-bundle", "--dry-run", "--json");
  t.equal(dry.code, 0, "--dry-run: exit 0", { stderr: dry.stderr });
  const planned = (JSON.parse(dry.stdout) as PruneJson).objects.filter((o) => o.result === "planned").map((o) => o.name).sort();
  t.same(planned, left, "--dry-run lists exactly the stack's objects");
  t.same(await stackObjects(), left, "--dry-run changed nothing");

  const r = await pruneCli("--stack", STACK, "--keep-bundle", "--json");
  t.equal(r.code, 0, "exit 0: everything in scope removed", { stderr: r.stderr });
  const report = JSON.parse(r.stdout) as PruneJson;
  const removed = report.objects.filter((o) => o.result === "removed");
  t.same(removed.map((o) => o.name).sort(), left, "it removed exactly the secrets and configs the stack's identities had");
  t.ok(removed.every((o) => o.identity !== null && IDENTITIES.includes(o.identity)), "and nothing of another identity (other tests' objects are on this swarm now)");
  const kept = report.objects.filter((o) => o.result !== "removed");
  t.ok(kept.every((o) => o.kind === "bundle" && o.result === "kept" && o.why === "--keep-bundle"), "what it kept is the trust bundle, as asked", { kept });
  t.same(await stackObjects(), [], "docker secret ls / config ls: nothing managed is left for the stack's identities");
  const bundles = (await docker("secret", "ls", "--format", "{{.Name}}", "--filter", "label=io.swarm-mtls.kind=bundle", "--filter", `label=io.swarm-mtls.ca=${ca.caStateName}`)).split("\n").filter(Boolean);
  t.ok(bundles.length > 0, "the CA's trust bundle is still there (--keep-bundle)", { bundles });

  const again = await pruneCli("--stack", STACK, "--keep-bundle");
  t.equal(again.code, 0, "a second prune: exit 0");
  t.match(again.stdout, /removed 0, .*\(0 identities in scope\)/, "and nothing left to do");
});

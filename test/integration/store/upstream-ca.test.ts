/**
 * `init` under an upstream CA, as an operator runs it, on the embedded (file) store and on the real swarm store (a CA
 * of its own: own CA-state config name and KEK secret, so the shared test CA is never touched). An openssl-made root
 * plays the company CA: `init --intermediate-csr` writes the CSR and keeps the key sealed in the store, `openssl x509
 * -req` signs it, `init --import-intermediate --upstream-bundle` completes the CA. Every wrong import (another key,
 * not a CA, expired, another root, a wrong KEK) exits 2 with a clear error and leaves the store as it was. Then two
 * leaves from `issue` pass `openssl verify -CAfile root.pem -untrusted intermediate.pem` and complete a Node mTLS
 * handshake that trusts only the upstream root.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mtlsHello } from "../../helpers/handshakes.js";
import t from "tap";
import { runCli, type CliRun } from "../../helpers/cli.js";
import { docker, requireSwarmCli, until } from "../../helpers/swarm-test.js";

await requireSwarmCli();

const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-upstream-"));
const f = (n: string): string => join(dir, n);
const openssl = (...args: string[]): string => execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const tag = `up${randomBytes(3).toString("hex")}`;
const caStateName = `mtls.${tag}.ca-state`;
const kekSecret = `swarm-mtls-kek-${tag}`;
const swarmEnv: Record<string, string> = {
  SWARM_MTLS_STORE: "swarm",
  SWARM_MTLS_KEK_FILE: f("swarm.kek"),
  SWARM_MTLS_CA_STATE_NAME: caStateName,
  SWARM_MTLS_KEK_SECRET_NAME: kekSecret,
  SWARM_MTLS_LABEL_PREFIX: `${tag}.`,
  SWARM_MTLS_ROTATION_LEASE_NAME: `mtls.lock.${tag}`,
};
const fileEnv: Record<string, string> = { SWARM_MTLS_STORE: `file:${f("data")}` };

/** This CA's configs in the swarm (CA state versions and the pending intermediate), sorted by name. */
const ourConfigs = async (): Promise<string[]> =>
  (await docker("config", "ls", "--format", "{{.Name}}")).split("\n").filter((n) => n.startsWith(`${caStateName}.`)).sort();

t.teardown(async () => {
  for (const name of await ourConfigs().catch(() => [])) await docker("config", "rm", name).catch(() => undefined);
  await docker("secret", "rm", kekSecret).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

// The company CA: a self-signed root made with openssl, and one that did not sign anything here.
function makeRoot(name: string): void {
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f(`${name}.key`), "-out", f(`${name}.pem`),
    "-subj", `/O=Acme/CN=${name}`, "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
}
makeRoot("root");
makeRoot("stranger");

/** The operator's signing step: `openssl x509 -req`, copying the CSR's extensions or with an extension file. */
function sign(csr: string, out: string, p: { root?: string; days?: number; ext?: string } = {}): string {
  const root = p.root ?? "root";
  const ext = p.ext === undefined ? ["-copy_extensions", "copy"] : (writeFileSync(f(`${out}.ext`), p.ext), ["-extfile", f(`${out}.ext`)]);
  openssl("x509", "-req", "-in", csr, "-CA", f(`${root}.pem`), "-CAkey", f(`${root}.key`), "-days", String(p.days ?? 10), "-out", f(out), ...ext);
  return f(out);
}

async function handshake(trust: string, server: string, client: string, serverName = "api"): Promise<string> {
  const pem = (d: string, n: string): string => readFileSync(join(d, n), "utf8");
  return mtlsHello(trust, { key: pem(server, "tls.key"), cert: pem(server, "tls.crt") }, { key: pem(client, "tls.key"), cert: pem(client, "tls.crt") }, serverName);
}

interface StoreUnderTest {
  name: string;
  env: Record<string, string>;
  /** Everything the store holds for this CA, to compare before and after a refused command. */
  snapshot(): Promise<string>;
  hasCa(): Promise<boolean>;
  hasPending(): Promise<boolean>;
}

const fileStore: StoreUnderTest = {
  name: "embedded (file) store",
  env: fileEnv,
  async snapshot() {
    const read = (n: string): string => { try { return readFileSync(f(`data/${n}`), "utf8"); } catch { return "-"; } };
    return JSON.stringify([read("ca-state.json"), read("ca-pending.json")]);
  },
  hasCa: async () => { try { statSync(f("data/ca-state.json")); return true; } catch { return false; } },
  hasPending: async () => { try { statSync(f("data/ca-pending.json")); return true; } catch { return false; } },
};

const swarmStore: StoreUnderTest = {
  name: "swarm store",
  env: swarmEnv,
  async snapshot() {
    const names = await ourConfigs();
    const ids = names.length ? (await docker("config", "inspect", "--format", "{{.ID}}", ...names)).trim() : "";
    return JSON.stringify([names, ids]);
  },
  hasCa: async () => (await ourConfigs()).some((n) => /\.v\d+$/.test(n)),
  hasPending: async () => (await ourConfigs()).includes(`${caStateName}.pending`),
};

for (const store of [fileStore, swarmStore]) {
  const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliRun> => runCli(args, { env: { ...store.env, ...extra }, cwd: dir, timeoutMs: 120_000 });
  const s = store === fileStore ? "file" : "swarm";
  const csr = f(`${s}.csr`);

  t.test(`${store.name}: --intermediate-csr writes the CSR and keeps the key sealed in the store, pending`, async (t) => {
    const r = await cli(["init", "--intermediate-csr", csr, "--trust-domain", "upstream.example"]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /pending intermediate for trust domain upstream\.example/);
    t.match(r.stdout, /init --import-intermediate intermediate\.pem --upstream-bundle root\.pem/, "says what to run next");
    const text = openssl("req", "-in", csr, "-noout", "-text", "-verify");
    t.match(text, /CA:TRUE, pathlen:0/, "openssl reads the CSR: it asks for an intermediate CA");
    t.ok(await store.hasPending(), "the store holds the pending intermediate");
    t.notOk(await store.hasCa(), "and no CA yet");
    if (store === swarmStore) {
      const data = (await docker("config", "inspect", "--format", "{{json .Spec.Data}}", `${caStateName}.pending`)).trim();
      const doc = Buffer.from(JSON.parse(data) as string, "base64").toString("utf8");
      t.notMatch(doc, /PRIVATE KEY/, "the config holds no clear private key");
      t.match(JSON.parse(doc).key, { alg: "A256GCM" }, "the key is sealed (AES-256-GCM under the KEK)");
    } else {
      t.equal(statSync(f("data/ca-pending.json")).mode & 0o777, 0o600, "ca-pending.json is 0600");
      t.notMatch(readFileSync(f("data/ca-pending.json"), "utf8"), /PRIVATE KEY/, "no clear private key");
    }
    const show = await cli(["ca", "show"]);
    t.equal(show.code, 2, "ca show: no CA yet (exit 2)");

    const again = await cli(["init", "--intermediate-csr", csr]);
    t.equal(again.code, 2, "a second --intermediate-csr without --force: exit 2");
    t.match(again.stderr, /already holds a pending intermediate/);
  });

  t.test(`${store.name}: a wrong import exits 2, says why, and changes nothing`, async (t) => {
    const before = await store.snapshot();
    const otherDir = mkdtempSync(join(dir, "other-"));
    const otherCsr = join(otherDir, "other.csr");
    const other = await runCli(["init", "--intermediate-csr", otherCsr, "--store", `file:${otherDir}/data`], { cwd: dir });
    t.equal(other.code, 0, other.stderr);
    const wrong: [string, string[], RegExp][] = [
      ["another key", [sign(otherCsr, `${s}-other.pem`), f("root.pem")], /not for the pending intermediate's key/],
      ["not a CA", [sign(csr, `${s}-leafish.pem`, { ext: "basicConstraints=critical,CA:FALSE\n" }), f("root.pem")], /not a CA certificate/],
      ["another root", [sign(csr, `${s}-int.pem`), f("stranger.pem")], /not signed by any root in --upstream-bundle/],
      ["the intermediate as its own bundle", [f(`${s}-int.pem`), f(`${s}-int.pem`)], /not a self-signed CA certificate/],
    ];
    const expired = sign(csr, `${s}-expired.pem`, { days: 0 });
    const notAfter = Date.parse(openssl("x509", "-in", expired, "-noout", "-enddate").trim().replace(/^notAfter=/, ""));
    await until("the 0-day certificate to have expired", 10_000, async () => (Date.now() > notAfter + 1000 ? true : undefined));
    wrong.push(["expired", [expired, f("root.pem")], /not valid now/]);
    for (const [what, [cert, bundle], re] of wrong) {
      const r = await cli(["init", "--import-intermediate", cert as string, "--upstream-bundle", bundle as string]);
      t.equal(r.code, 2, `${what}: exit 2`);
      t.match(r.stderr, re, `${what}: says why`);
      t.equal(r.stderr.trim().split("\n").length, 1, `${what}: one line`);
      t.equal(await store.snapshot(), before, `${what}: the store is unchanged`);
    }
    const otherKek = f(`${s}-other.kek`);
    writeFileSync(otherKek, `${randomBytes(32).toString("base64")}\n`, { mode: 0o400 });
    const kek = await cli(["init", "--import-intermediate", f(`${s}-int.pem`), "--upstream-bundle", f("root.pem")], { SWARM_MTLS_KEK_FILE: otherKek });
    t.equal(kek.code, 2, "another KEK: exit 2");
    t.match(kek.stderr, /key-encryption key does not open the pending intermediate/);
    t.equal(await store.snapshot(), before, "another KEK: the store is unchanged");
    const half = await cli(["init", "--import-intermediate", f(`${s}-int.pem`)]);
    t.equal(half.code, 2, "--import-intermediate without --upstream-bundle: exit 2");
    t.match(half.stderr, /go together/);
  });

  t.test(`${store.name}: the signed intermediate is imported; leaves verify with openssl and talk mTLS under the upstream root`, async (t) => {
    const r = await cli(["init", "--import-intermediate", f(`${s}-int.pem`), "--upstream-bundle", f("root.pem"), "--json"]);
    t.equal(r.code, 0, r.stderr);
    const roles = (JSON.parse(r.stdout) as { certificates: { role: string; subject: string; keyOnline: boolean }[] }).certificates;
    t.match(roles, [{ role: "root", subject: "O=Acme, CN=root", keyOnline: false }, { role: "intermediate", keyOnline: true }], "the upstream root (key offline) and the imported intermediate");
    t.ok(await store.hasCa(), "the CA is stored");
    t.notOk(await store.hasPending(), "the pending intermediate is gone");

    for (const id of ["api", "web"]) {
      const issued = await cli(["issue", id, "--dns", id, "--out", f(`${s}-${id}`)]);
      t.equal(issued.code, 0, issued.stderr);
    }
    t.equal(readFileSync(f(`${s}-api/ca.crt`), "utf8").trim(), readFileSync(f("root.pem"), "utf8").trim(), "ca.crt (the trust bundle) is the upstream root");
    const leaf = f(`${s}-api-leaf.pem`);
    writeFileSync(leaf, openssl("x509", "-in", f(`${s}-api/tls.crt`)));
    t.match(openssl("verify", "-CAfile", f("root.pem"), "-untrusted", f(`${s}-int.pem`), leaf), /: OK/, "openssl verify -CAfile root.pem -untrusted intermediate.pem");
    t.equal(await handshake(readFileSync(f("root.pem"), "utf8"), f(`${s}-api`), f(`${s}-web`)), "hello spiffe://upstream.example/id/web", "web calls api over mTLS, both trusting only the upstream root");
  });

  t.test(`${store.name}: a renewed intermediate under the same root (both steps with --force); old and new leaves talk`, async (t) => {
    const fingerprints = async (): Promise<string[]> => {
      const r = await cli(["ca", "show", "--json"]);
      t.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { certificates: { fingerprint: string }[] }).certificates.map((c) => c.fingerprint);
    };
    const before = await fingerprints();
    const refused = await cli(["init", "--intermediate-csr", f(`${s}-2.csr`)]);
    t.equal(refused.code, 2, "--intermediate-csr over a CA without --force: exit 2");
    const step1 = await cli(["init", "--intermediate-csr", f(`${s}-2.csr`), "--force"]);
    t.equal(step1.code, 0, step1.stderr);
    t.match(step1.stdout, /trust domain upstream\.example/, "the trust domain stays the current CA's (no --trust-domain given)");
    t.same(await fingerprints(), before, "the CA is unchanged until the import");
    const stillIssues = await cli(["issue", "mid", "--out", f(`${s}-mid`)]);
    t.equal(stillIssues.code, 0, `it still issues: ${stillIssues.stderr}`);
    const int2 = sign(f(`${s}-2.csr`), `${s}-int2.pem`);
    const noForce = await cli(["init", "--import-intermediate", int2, "--upstream-bundle", f("root.pem")]);
    t.equal(noForce.code, 2, "the import over a CA without --force: exit 2");
    const step2 = await cli(["init", "--import-intermediate", int2, "--upstream-bundle", f("root.pem"), "--force"]);
    t.equal(step2.code, 0, step2.stderr);
    const after = await fingerprints();
    t.equal(after[0], before[0], "the same root");
    t.not(after[1], before[1], "a new intermediate");
    const issued = await cli(["issue", "web2", "--dns", "web2", "--out", f(`${s}-web2`)]);
    t.equal(issued.code, 0, issued.stderr);
    const root = readFileSync(f("root.pem"), "utf8");
    t.equal(await handshake(root, f(`${s}-api`), f(`${s}-web2`)), "hello spiffe://upstream.example/id/web2", "a new leaf calls an old one");
    t.equal(await handshake(root, f(`${s}-web2`), f(`${s}-api`), "web2"), "hello spiffe://upstream.example/id/api", "and the other way round");
  });
}

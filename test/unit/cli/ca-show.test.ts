import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lines, opensslFingerprint, sandbox } from "./fixtures/cli-sandbox.js";

interface CaShowJson {
  store: string;
  trustDomain: string;
  defaultKeyAlgorithm: string;
  maxLeafTtlSeconds: number;
  certificates: { role: string; subject: string; issuer: string; fingerprint: string; notBefore: string; notAfter: string; keyOnline: boolean; pem: string }[];
}

t.test("ca show: subject, fingerprints and validity, as text and as JSON", async (t) => {
  const s = sandbox(t);
  await s.init(["--max-leaf-ttl", "3d"]);

  const j = await s.run(["ca", "show", "--json"]);
  t.equal(j.code, 0, "--json: exit 0");
  t.equal(j.stderr, "", "--json: nothing on stderr");
  const ca = JSON.parse(j.stdout) as CaShowJson;
  t.equal(ca.trustDomain, "example.org");
  t.equal(ca.store, `file:${s.data}`);
  t.equal(ca.defaultKeyAlgorithm, "ecdsa-p256");
  t.equal(ca.maxLeafTtlSeconds, 3 * 86400, "the CA maximum chosen at init");
  t.same(ca.certificates.map((c) => c.role), ["root", "intermediate"]);
  const [root, intermediate] = ca.certificates as [CaShowJson["certificates"][0], CaShowJson["certificates"][0]];
  t.equal(root.subject, root.issuer, "the root is self-issued");
  t.equal(intermediate.issuer, root.subject, "the intermediate is issued by the root");
  t.equal(root.fingerprint, opensslFingerprint(root.pem), "root fingerprint = openssl's SHA-256 fingerprint");
  t.equal(intermediate.fingerprint, opensslFingerprint(intermediate.pem), "intermediate fingerprint = openssl's");
  for (const c of [root, intermediate]) {
    t.ok(Date.parse(c.notBefore) < Date.now() && Date.parse(c.notAfter) > Date.now(), `${c.role}: valid now`);
    t.equal(c.keyOnline, true, `${c.role}: key online`);
  }

  const h = await s.run(["ca", "show"]);
  t.equal(h.code, 0, "human: exit 0");
  t.equal(h.stderr, "", "human: nothing on stderr");
  t.match(h.stdout, "example.org", "human: trust domain");
  t.notMatch(h.stdout, /BEGIN CERTIFICATE/, "human: no PEM, short output");
  for (const c of [root, intermediate]) {
    const row = lines(h.stdout).find((l) => l.startsWith(`${c.role} `));
    t.ok(row, `human: a ${c.role} row`);
    t.match(row, c.subject, `human: ${c.role} subject`);
    t.match(row, c.fingerprint, `human: ${c.role} fingerprint`);
    t.match(row, c.notBefore, `human: ${c.role} validity start`);
    t.match(row, c.notAfter, `human: ${c.role} validity end`);
    t.ok((row as string).indexOf(c.notBefore) < (row as string).indexOf(c.notAfter), `human: ${c.role} not before comes before not after`);
  }
  t.match(h.stdout, /sha256 fingerprint/, "human: column header names the hash");
  t.match(h.stdout, /not before\s+not after/, "human: the header names both ends of the validity");
});

t.test("ca show: errors are one line with exit 2", async (t) => {
  const s = sandbox(t);
  const before = await s.run(["ca", "show"]);
  t.equal(before.code, 2, "before init: exit 2");
  t.equal(lines(before.stderr).length, 1, "before init: one line");
  // The advice runs as typed (after `npm ci` there is no swarm-mtls on the PATH): run it, and the CA is there.
  const advice = /`([^`]+)`/.exec(before.stderr)?.[1] ?? "";
  t.match(advice, /^node \S*main\.js init --trust-domain example\.org --store file:\S+$/, "before init: names the init command, as this CLI is run");
  const created = spawnSync("sh", ["-c", advice], { cwd: s.dir, encoding: "utf8" });
  t.equal(created.status, 0, `the advice runs as typed: ${created.stderr}`);
  t.equal((await s.run(["ca", "show"])).code, 0, "then ca show finds the CA");
  rmSync(s.data, { recursive: true, force: true });

  await s.init();
  const other = join(s.dir, "other.kek");
  writeFileSync(other, randomBytes(32).toString("base64"));
  s.secretFiles.push(other);
  const wrong = await s.run(["ca", "show", "--kek-file", other]);
  t.equal(wrong.code, 2, "wrong KEK: exit 2");
  t.equal(lines(wrong.stderr).length, 1, "wrong KEK: one line");
  t.match(wrong.stderr, /key-encryption key/, "wrong KEK: names the key-encryption key");
  t.equal(wrong.stdout, "", "wrong KEK: no certificates shown");
});

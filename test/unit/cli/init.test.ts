import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lines, modeOf, openssl, opensslFingerprint, sandbox, x509Text } from "./fixtures/cli-sandbox.js";

interface CertInfo {
  role: string;
  subject: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  keyOnline: boolean;
  pem: string;
}

t.test("init on the file store: what the operator sees and what lands on disk", async (t) => {
  const s = sandbox(t);
  const r = await s.init();
  t.equal(r.stderr, "", "nothing on stderr");
  t.match(r.stdout, "example.org", "prints the trust domain");
  t.match(r.stdout, /^root\s+.*[0-9a-f]{64}$/m, "prints the root with its fingerprint");
  t.match(r.stdout, /^intermediate\s+.*[0-9a-f]{64}$/m, "prints the intermediate with its fingerprint");

  t.equal(modeOf(s.data), 0o700, "store directory is 0700");
  t.equal(modeOf(s.kekFile), 0o400, "kek is 0400");
  t.equal(modeOf(s.stateFile), 0o600, "ca-state.json is 0600");
  const kekText = readFileSync(s.kekFile, "utf8").trim();
  t.match(kekText, /^[A-Za-z0-9+/]{43}=$/, "kek is base64 text");
  const kek = Buffer.from(kekText, "base64");
  t.equal(kek.length, 32, "kek decodes to 32 bytes");
  const state = readFileSync(s.stateFile);
  t.notOk(state.toString("utf8").includes("PRIVATE KEY"), "no PEM private key in the CA state");
  t.notOk(state.toString("utf8").includes(kekText), "the KEK text is not in the CA state");
  t.notOk(state.includes(kek), "the KEK bytes are not in the CA state");
  t.notOk(state.toString("utf8").includes(kek.toString("hex")), "the KEK hex is not in the CA state");

  // The human table's fingerprints are the certificates' SHA-256 fingerprints as openssl computes them.
  const doc = JSON.parse(state.toString("utf8")) as { roots: { certPem: string }[]; intermediate: { certPem: string } };
  t.match(r.stdout, opensslFingerprint(doc.roots[0]?.certPem as string), "root fingerprint matches openssl's");
  t.match(r.stdout, opensslFingerprint(doc.intermediate.certPem), "intermediate fingerprint matches openssl's");
});

t.test("init --json: certificates parse, root pathLen 1, intermediate pathLen 0", async (t) => {
  const s = sandbox(t);
  const r = await s.init(["--json"]);
  const out = JSON.parse(r.stdout) as { trustDomain: string; store: string; certificates: CertInfo[] };
  t.equal(out.trustDomain, "example.org");
  t.equal(out.store, `file:${s.data}`);
  t.equal(out.certificates[0]?.role, "root");
  t.equal(out.certificates[1]?.role, "intermediate");
  const [root, intermediate] = out.certificates as [CertInfo, CertInfo];

  const rootText = x509Text(root.pem);
  t.match(rootText, /CA:TRUE, pathlen:1/, "root: CA, pathLen 1");
  t.match(rootText, /Certificate Sign, CRL Sign/, "root: keyCertSign");
  const intText = x509Text(intermediate.pem);
  t.match(intText, /CA:TRUE, pathlen:0/, "intermediate: CA, pathLen 0");
  t.equal(opensslFingerprint(root.pem), root.fingerprint, "root fingerprint is the SHA-256 of the DER");
  t.equal(opensslFingerprint(intermediate.pem), intermediate.fingerprint, "intermediate fingerprint");

  const dir = s.dir;
  writeFileSync(join(dir, "root.pem"), root.pem);
  writeFileSync(join(dir, "int.pem"), intermediate.pem);
  t.match(openssl(["verify", "-x509_strict", "-CAfile", join(dir, "root.pem"), join(dir, "int.pem")]), /int\.pem: OK/, "intermediate verifies under the root");

  // Default lifetimes: root 10 years, intermediate 1 year (the intermediate ends before the root).
  const years = (c: CertInfo): number => (Date.parse(c.notAfter) - Date.parse(c.notBefore)) / (365 * 86400_000);
  t.ok(years(root) > 9.9 && years(root) < 10.1, `root lives about 10 years (${years(root).toFixed(2)})`);
  t.ok(years(intermediate) > 0.99 && years(intermediate) < 1.01, `intermediate lives about 1 year (${years(intermediate).toFixed(2)})`);
});

t.test("init over an existing CA: refused without --force, replaced with it", async (t) => {
  const s = sandbox(t);
  const first = JSON.parse((await s.init(["--json"])).stdout) as { certificates: CertInfo[] };
  const before = readFileSync(s.stateFile);
  const kekBefore = readFileSync(s.kekFile);

  const again = await s.run(["init", "--trust-domain", "example.org"]);
  t.equal(again.code, 2, "exit 2");
  t.equal(again.stdout, "", "nothing on stdout");
  t.equal(lines(again.stderr).length, 1, "one line on stderr");
  t.match(again.stderr, "--force", "the line names --force");
  t.ok(readFileSync(s.stateFile).equals(before), "the CA state is unchanged, byte for byte");

  const forced = await s.run(["init", "--trust-domain", "example.org", "--force", "--json"]);
  t.equal(forced.code, 0, "--force: exit 0");
  const second = JSON.parse(forced.stdout) as { certificates: CertInfo[] };
  t.not(second.certificates[0]?.fingerprint, first.certificates[0]?.fingerprint, "new root fingerprint");
  t.not(second.certificates[1]?.fingerprint, first.certificates[1]?.fingerprint, "new intermediate fingerprint");
  t.notOk(readFileSync(s.stateFile).equals(before), "the CA state was replaced");
  t.ok(readFileSync(s.kekFile).equals(kekBefore), "the key-encryption key is kept");
  t.equal(modeOf(s.stateFile), 0o600, "still 0600");

  const issued = await s.run(["issue", "web", "--out", join(s.dir, "out")]);
  t.equal(issued.code, 0, "the replaced CA issues");
});

t.test("init --key-alg: every CA key algorithm", async (t) => {
  for (const [alg, marker] of [
    ["ecdsa-p384", /NIST CURVE: P-384/],
    ["ed25519", /ED25519/],
    ["rsa-2048", /Public-Key: \(2048 bit\)/],
  ] as const) {
    const s = sandbox(t);
    const r = await s.init(["--key-alg", alg, "--json"]);
    const out = JSON.parse(r.stdout) as { certificates: CertInfo[] };
    t.match(x509Text(out.certificates[0]?.pem as string), marker, `${alg}: the root key is ${alg}`);
    const issued = await s.run(["issue", "web", "--out", join(s.dir, "out"), "--json"]);
    t.equal(issued.code, 0, `${alg}: issue works`);
    t.equal((JSON.parse(issued.stdout) as { keyAlgorithm: string }).keyAlgorithm, alg, `${alg}: leaves default to the CA's algorithm`);
  }
});

t.test("init --offline-root: the root key goes only to an encrypted file", async (t) => {
  const s = sandbox(t);
  const keyFile = join(s.dir, "root.key.pem");
  const passFile = join(s.dir, "pass.txt");
  writeFileSync(passFile, "correct horse battery staple\n");
  const r = await s.init(["--offline-root", keyFile, "--root-passphrase-file", passFile, "--json"]);
  const out = JSON.parse(r.stdout) as { offlineRootKeyFile: string; certificates: CertInfo[] };
  t.equal(out.offlineRootKeyFile, keyFile, "names the root key file");
  t.equal(out.certificates[0]?.keyOnline, false, "root key offline");
  t.equal(out.certificates[1]?.keyOnline, true, "intermediate key online");

  t.ok(existsSync(keyFile), "root key file exists");
  t.equal(modeOf(keyFile), 0o400, "root key file is 0400");
  t.match(readFileSync(keyFile, "utf8"), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/, "root key file is encrypted PKCS#8");
  t.doesNotThrow(() => openssl(["pkey", "-in", keyFile, "-passin", `file:${passFile}`, "-noout"]), "openssl opens it with the passphrase");
  t.throws(() => openssl(["pkey", "-in", keyFile, "-passin", "pass:wrong passphrase here", "-noout"]), "and not without it");
  // The key in the file is the root certificate's key.
  const pubFromKey = openssl(["pkey", "-in", keyFile, "-passin", `file:${passFile}`, "-pubout"]);
  const pubFromCert = openssl(["x509", "-noout", "-pubkey"], out.certificates[0]?.pem);
  t.equal(pubFromKey, pubFromCert, "the file holds the root certificate's key");

  const state = JSON.parse(readFileSync(s.stateFile, "utf8")) as { roots: Record<string, unknown>[]; intermediate: Record<string, unknown> };
  t.notOk("key" in (state.roots[0] ?? {}), "the root entry in ca-state.json has no key");
  t.ok("key" in state.intermediate, "the intermediate key is in the store (encrypted)");

  const human = await s.run(["ca", "show"]);
  t.match(human.stdout, /^root\s.*offline/m, "ca show says the root key is offline");

  const issued = await s.run(["issue", "web", "--dns", "web.local", "--out", join(s.dir, "out")]);
  t.equal(issued.code, 0, "issue still works (the intermediate is online)");
  t.match(
    openssl(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", join(s.dir, "out/ca.crt"), "-untrusted", join(s.dir, "out/tls.crt"), join(s.dir, "out/tls.crt")]),
    /OK/,
    "and the leaf verifies",
  );
});

t.test("init --offline-root without --root-passphrase-file: exit 2, nothing written", async (t) => {
  const s = sandbox(t);
  const keyFile = join(s.dir, "root.key.pem");
  const r = await s.run(["init", "--trust-domain", "example.org", "--offline-root", keyFile]);
  t.equal(r.code, 2);
  t.equal(lines(r.stderr).length, 1, "one line on stderr");
  t.match(r.stderr, "--root-passphrase-file");
  t.notOk(existsSync(keyFile), "no root key file");
  t.notOk(existsSync(s.stateFile), "no CA state");
  t.notOk(existsSync(s.kekFile), "no key-encryption key");
});

t.test("init --offline-root with a short passphrase: exit 2, nothing written", async (t) => {
  const s = sandbox(t);
  const keyFile = join(s.dir, "root.key.pem");
  const passFile = join(s.dir, "pass.txt");
  writeFileSync(passFile, "short\n");
  const r = await s.run(["init", "--trust-domain", "example.org", "--offline-root", keyFile, "--root-passphrase-file", passFile]);
  t.equal(r.code, 2);
  t.equal(lines(r.stderr).length, 1, "one line on stderr");
  t.match(r.stderr, /16 characters/);
  t.notOk(existsSync(keyFile), "no root key file");
  t.notOk(existsSync(s.stateFile), "no CA state");
  t.notOk(existsSync(s.kekFile), "no key-encryption key");
});

t.test("init with bad input: exit 2, one line, no CA", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--trust-domain", "Bad Domain!"], /trust domain|Bad Domain/i],
    [["--trust-domain", "example.org", "--key-alg", "dsa"], /dsa.*ecdsa-p256/],
    [["--trust-domain", "example.org", "--root-ttl", "1y", "--intermediate-ttl", "2y"], /--intermediate-ttl/],
    [["--trust-domain", "example.org", "--root-ttl", "forever"], /--root-ttl.*forever/],
    [["--trust-domain", "example.org", "--offline-root", "r.pem", "--root-passphrase-file", "/nope/pass.txt"], /--root-passphrase-file.*ENOENT/],
  ];
  for (const [args, message] of cases) {
    const s = sandbox(t);
    const r = await s.run(["init", ...args]);
    t.equal(r.code, 2, `${args.join(" ")}: exit 2`);
    t.equal(lines(r.stderr).length, 1, `${args.join(" ")}: one line on stderr`);
    t.match(r.stderr, message, `${args.join(" ")}: says why`);
    t.notOk(existsSync(s.stateFile), `${args.join(" ")}: no CA state`);
    t.notOk(existsSync(s.kekFile), `${args.join(" ")}: no key-encryption key`);
  }
});

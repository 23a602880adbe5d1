import { readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { lines, modeOf, openssl, pemBlocks, sandbox, x509Text, type CliSandbox } from "./fixtures/cli-sandbox.js";

interface IssueJson {
  identity: string;
  serial: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: string;
  dnsNames: string[];
  uris: string[];
  files: { cert: string; key: string; ca: string };
}

/** `openssl verify -x509_strict -purpose P -CAfile ca.crt -untrusted tls.crt tls.crt` in OUT. */
function verify(out: string, purpose: "sslserver" | "sslclient"): string {
  const crt = join(out, "tls.crt");
  return openssl(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", join(out, "ca.crt"), "-untrusted", crt, crt]);
}

/** A sandbox with a CA; returns it and the init --json output. */
async function withCa(t: Test): Promise<{ s: CliSandbox; ca: { certificates: { role: string; pem: string }[] } }> {
  const s = sandbox(t);
  const r = await s.init(["--json"]);
  return { s, ca: JSON.parse(r.stdout) };
}

t.test("issue web --dns web.local,tasks.web --ttl 2h --out OUT", async (t) => {
  const { s, ca } = await withCa(t);
  const out = join(s.dir, "out");
  const before = Date.now();
  const r = await s.run(["issue", "web", "--dns", "web.local,tasks.web", "--ttl", "2h", "--out", out]);
  const after = Date.now();
  t.equal(r.code, 0, "exit 0");
  t.equal(r.stderr, "", "nothing on stderr");
  t.match(r.stdout, /issued web/, "says what it issued");
  t.match(r.stdout, "spiffe://example.org/id/web", "shows the SPIFFE ID");
  t.match(r.stdout, join(out, "tls.key"), "names the key file");

  const chain = readFileSync(join(out, "tls.crt"), "utf8");
  const blocks = pemBlocks(chain);
  t.equal(blocks.length, 2, "tls.crt holds two certificates");
  t.equal(blocks[1]?.trim(), ca.certificates[1]?.pem.trim(), "the second is the intermediate");
  const bundle = pemBlocks(readFileSync(join(out, "ca.crt"), "utf8"));
  t.same(bundle.map((b) => b.trim()), [ca.certificates[0]?.pem.trim()], "ca.crt is the root");

  t.equal(modeOf(join(out, "tls.key")), 0o400, "tls.key is 0400");
  t.match(readFileSync(join(out, "tls.key"), "utf8"), /^-----BEGIN PRIVATE KEY-----/, "tls.key is PKCS#8 PEM");
  t.doesNotThrow(() => openssl(["pkey", "-in", join(out, "tls.key"), "-noout"]), "openssl reads the key");
  const keyPub = openssl(["pkey", "-in", join(out, "tls.key"), "-pubout"]);
  t.equal(keyPub, openssl(["x509", "-noout", "-pubkey"], blocks[0]), "the key belongs to the leaf");

  t.match(verify(out, "sslserver"), /tls\.crt: OK/, "openssl verify -x509_strict -purpose sslserver: OK");
  t.match(verify(out, "sslclient"), /tls\.crt: OK/, "openssl verify -x509_strict -purpose sslclient: OK");

  const text = x509Text(chain);
  t.match(text, /Subject: CN\s*=\s*web\b/, "subject CN = web");
  t.match(text, /DNS:web\.local/, "SAN web.local");
  t.match(text, /DNS:tasks\.web/, "SAN tasks.web");
  t.match(text, /URI:spiffe:\/\/example\.org\/id\/web/, "SPIFFE ID");
  t.match(text, /CA:FALSE/, "not a CA");
  t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/, "EKU serverAuth + clientAuth");

  const notAfter = Date.parse(openssl(["x509", "-noout", "-enddate"], chain).replace("notAfter=", "").trim());
  const notBefore = Date.parse(openssl(["x509", "-noout", "-startdate"], chain).replace("notBefore=", "").trim());
  const twoHours = 2 * 3600_000;
  t.ok(notAfter >= Math.floor(before / 1000) * 1000 + twoHours - 1000 && notAfter <= after + twoHours, "notAfter is now + 2h");
  t.ok(notBefore <= before, "notBefore is not in the future");
});

t.test("issue --json reports what it wrote", async (t) => {
  const { s } = await withCa(t);
  const out = join(s.dir, "out");
  const r = await s.run(["issue", "web", "--dns", "web.local", "--ttl", "90m", "--out", out, "--json"]);
  t.equal(r.code, 0);
  const j = JSON.parse(r.stdout) as IssueJson;
  t.equal(j.identity, "web");
  t.same(j.dnsNames, ["web.local"]);
  t.same(j.uris, ["spiffe://example.org/id/web"]);
  t.equal(j.keyAlgorithm, "ecdsa-p256", "the CA's algorithm by default");
  t.same(j.files, { cert: join(out, "tls.crt"), key: join(out, "tls.key"), ca: join(out, "ca.crt") });
  t.equal(Date.parse(j.notAfter) - Date.parse(j.notBefore) > 90 * 60_000, true, "lifetime at least 90m (notBefore is backdated)");
  const serial = openssl(["x509", "-noout", "-serial"], readFileSync(j.files.cert, "utf8")).replace("serial=", "").trim().toLowerCase();
  t.equal(serial.replace(/^0+/, ""), j.serial.replace(/^0+/, ""), "the serial is the certificate's");
});

t.test("--stack shop: SPIFFE ID spiffe://example.org/swarm/shop/web", async (t) => {
  const { s } = await withCa(t);
  const out = join(s.dir, "out");
  const r = await s.run(["issue", "web", "--stack", "shop", "--out", out]);
  t.equal(r.code, 0);
  t.match(x509Text(readFileSync(join(out, "tls.crt"), "utf8")), /URI:spiffe:\/\/example\.org\/swarm\/shop\/web/);
  t.match(verify(out, "sslserver"), /OK/);
});

t.test("--uri adds URI SANs next to the SPIFFE ID", async (t) => {
  const { s } = await withCa(t);
  const out = join(s.dir, "out");
  const r = await s.run(["issue", "web", "--uri", "urn:example:web", "--uri", "https://web.example.org/", "--out", out]);
  t.equal(r.code, 0);
  const text = x509Text(readFileSync(join(out, "tls.crt"), "utf8"));
  t.match(text, /URI:spiffe:\/\/example\.org\/id\/web/);
  t.match(text, /URI:urn:example:web/);
  t.match(text, /URI:https:\/\/web\.example\.org\//);
});

t.test("--dns: a comma separates names, so 'a,b' is two SANs", async (t) => {
  const { s } = await withCa(t);
  const out = join(s.dir, "out");
  const r = await s.run(["issue", "web", "--dns", "a, b", "--out", out, "--json"]);
  t.equal(r.code, 0);
  t.same((JSON.parse(r.stdout) as IssueJson).dnsNames, ["a", "b"], "split on commas, blanks trimmed");
  const text = x509Text(readFileSync(join(out, "tls.crt"), "utf8"));
  t.match(text, /DNS:a, DNS:b/, "two DNS SANs, no name containing a comma");
});

t.test("--key-alg: every algorithm issues a certificate openssl accepts", async (t) => {
  const { s } = await withCa(t);
  const expected: Record<string, RegExp> = {
    "ecdsa-p256": /NIST CURVE: P-256/,
    "ecdsa-p384": /NIST CURVE: P-384/,
    ed25519: /ED25519/,
    "rsa-2048": /Public-Key: \(2048 bit\)/,
    "rsa-3072": /Public-Key: \(3072 bit\)/,
  };
  for (const [alg, marker] of Object.entries(expected)) {
    const out = join(s.dir, alg);
    const r = await s.run(["issue", "web", "--dns", "web.local", "--key-alg", alg, "--out", out, "--json"]);
    t.equal(r.code, 0, `${alg}: exit 0`);
    t.equal((JSON.parse(r.stdout) as IssueJson).keyAlgorithm, alg, `${alg}: reported`);
    t.equal(modeOf(join(out, "tls.key")), 0o400, `${alg}: tls.key is 0400`);
    t.doesNotThrow(() => openssl(["pkey", "-in", join(out, "tls.key"), "-noout"]), `${alg}: openssl reads the key`);
    const text = x509Text(readFileSync(join(out, "tls.crt"), "utf8"));
    t.match(text, marker, `${alg}: the leaf key is ${alg}`);
    t.match(text, alg.startsWith("rsa") ? /Digital Signature, Key Encipherment/ : /Digital Signature\s*\n/, `${alg}: key usage`);
    t.match(verify(out, "sslserver"), /OK/, `${alg}: verifies as a server`);
    t.match(verify(out, "sslclient"), /OK/, `${alg}: verifies as a client`);
  }
});

t.test("issuing again into the same OUT replaces the files", async (t) => {
  const { s } = await withCa(t);
  const out = join(s.dir, "out");
  const first = JSON.parse((await s.run(["issue", "web", "--out", out, "--json"])).stdout) as IssueJson;
  const second = await s.run(["issue", "web", "--out", out, "--json"]);
  t.equal(second.code, 0, "a 0400 tls.key is no obstacle");
  t.not((JSON.parse(second.stdout) as IssueJson).serial, first.serial, "a new certificate");
  t.equal(modeOf(join(out, "tls.key")), 0o400);
  t.match(verify(out, "sslserver"), /OK/);
  t.same(lines(readFileSync(join(out, "tls.crt"), "utf8")).filter((l) => l.startsWith("-----BEGIN")).length, 2);
});

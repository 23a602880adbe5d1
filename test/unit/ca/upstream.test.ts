/**
 * A CA under an upstream root made with openssl: the pending intermediate's CSR is signed by `openssl x509 -req`, the
 * signed certificate is imported, two services get leaves, and they complete a real Node TLS mTLS handshake trusting
 * only the upstream root; `openssl verify` agrees. Every wrong import is refused with a clear error.
 */
import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mtlsHello } from "../../helpers/handshakes.js";
import { bundlePem, issueLeafSync, spiffeIdFor, type IssuedLeaf } from "../../../src/ca/index.js";
import { completeWithUpstream, createPendingIntermediate } from "../../../src/ca/upstream.js";

const dir = mkdtempSync(join(tmpdir(), "upstream-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const f = (n: string): string => join(dir, n);
const openssl = (...args: string[]): string => execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** A self-signed upstream root; `pathlen` is written into its basicConstraints when given. */
function makeRoot(name: string, pathlen?: number): void {
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f(`${name}.key`), "-out", f(`${name}.pem`),
    "-subj", `/O=Acme/CN=${name}`, "-days", "30", "-addext", `basicConstraints=critical,CA:TRUE${pathlen === undefined ? "" : `,pathlen:${pathlen}`}`, "-addext", "keyUsage=critical,keyCertSign,cRLSign");
}
/** Signs a CSR with a root, with these extensions. */
function sign(csrPem: string, root: string, ext: string, out: string): string {
  writeFileSync(f(`${out}.csr`), csrPem);
  writeFileSync(f(`${out}.ext`), ext);
  openssl("x509", "-req", "-in", f(`${out}.csr`), "-CA", f(`${root}.pem`), "-CAkey", f(`${root}.key`), "-set_serial", "0x1234", "-days", "10", "-out", f(`${out}.pem`), "-extfile", f(`${out}.ext`));
  return readFileSync(f(`${out}.pem`), "utf8");
}
const CA_EXT = "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

const handshake = (trust: string, server: IssuedLeaf, client: IssuedLeaf): Promise<string> =>
  mtlsHello(trust, { key: server.keyPem as string, cert: server.chainPem }, { key: client.keyPem as string, cert: client.chainPem });

makeRoot("root");
const pending = await createPendingIntermediate({ trustDomain: "example.org", maxLeafTtlSeconds: 7 * 86400 });
const later = (days: number): Date => new Date(Date.now() + days * 86400_000);

t.test("the CSR asks for a CA: openssl reads it and its signature verifies", async (t) => {
  writeFileSync(f("req.csr"), pending.csrPem);
  const text = openssl("req", "-in", f("req.csr"), "-noout", "-text", "-verify");
  t.match(text, /CA:TRUE, pathlen:0/);
  t.match(text, /Certificate Sign, CRL Sign/);
  t.notMatch(pending.csrPem, /PRIVATE KEY/, "the CSR holds no key");
});

t.test("import the openssl-signed intermediate, issue two services, mTLS between them, openssl verify", async (t) => {
  const intermediatePem = sign(pending.csrPem, "root", CA_EXT, "int");
  const rootPem = readFileSync(f("root.pem"), "utf8");
  const a = completeWithUpstream({ pending, intermediatePem, upstreamPem: rootPem, now: new Date() });
  t.equal(bundlePem(a).trim(), rootPem.trim(), "the trust bundle is the upstream root");
  t.equal(a.roots[0]?.privateKey, undefined, "the upstream root key is not here");
  const leaf = (id: string): IssuedLeaf => issueLeafSync(a, { identity: id, dnsNames: [id], spiffeId: spiffeIdFor({ trustDomain: "example.org", identity: id }), ttlSeconds: 3600 });
  const api = leaf("api");
  const web = leaf("web");
  t.equal(await handshake(bundlePem(a), api, web), "hello spiffe://example.org/id/web", "web calls api over mTLS, trusting only the upstream root");
  writeFileSync(f("bundle.pem"), bundlePem(a));
  writeFileSync(f("chain.pem"), api.chainPem);
  writeFileSync(f("leaf.pem"), api.certPem);
  t.match(openssl("verify", "-x509_strict", "-CAfile", f("bundle.pem"), "-untrusted", f("chain.pem"), f("leaf.pem")), /leaf\.pem: OK/, "openssl verify against the bundle");
});

t.test("a wrong import is refused, saying why", async (t) => {
  const rootPem = readFileSync(f("root.pem"), "utf8");
  const other = await createPendingIntermediate({ trustDomain: "example.org", maxLeafTtlSeconds: 86400 });
  const forOther = sign(other.csrPem, "root", CA_EXT, "other");
  t.throws(() => completeWithUpstream({ pending, intermediatePem: forOther, upstreamPem: rootPem, now: new Date() }), /not for the pending intermediate's key/);
  const notCa = sign(pending.csrPem, "root", "basicConstraints=critical,CA:FALSE\n", "notca");
  t.throws(() => completeWithUpstream({ pending, intermediatePem: notCa, upstreamPem: rootPem, now: new Date() }), /not a CA certificate/);
  makeRoot("stranger");
  const good = readFileSync(f("int.pem"), "utf8");
  t.throws(() => completeWithUpstream({ pending, intermediatePem: good, upstreamPem: readFileSync(f("stranger.pem"), "utf8"), now: new Date() }), /not signed by any root in --upstream-bundle/);
  makeRoot("tight", 0);
  const underTight = sign(pending.csrPem, "tight", CA_EXT, "undertight");
  t.throws(() => completeWithUpstream({ pending, intermediatePem: underTight, upstreamPem: readFileSync(f("tight.pem"), "utf8"), now: new Date() }), /pathlen 0: it may not have an intermediate CA below it/);
  t.throws(() => completeWithUpstream({ pending, intermediatePem: good, upstreamPem: good, now: new Date() }), /not a self-signed CA certificate/);
  t.throws(() => completeWithUpstream({ pending, intermediatePem: "nothing", upstreamPem: rootPem, now: new Date() }), /no PEM certificate/);
  t.throws(() => completeWithUpstream({ pending, intermediatePem: good, upstreamPem: rootPem, now: later(60) }), /not valid now/);
});

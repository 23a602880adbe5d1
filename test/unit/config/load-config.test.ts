import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { environmentNames, loadConfig } from "../../../src/config/load-config.js";
import { expectMtlsError } from "../../helpers/expect-error.js";

const dir = mkdtempSync(join(tmpdir(), "cfg-"));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

t.test("defaults load and validate", async (t) => {
  const c = loadConfig();
  t.equal(c.store, "auto");
  t.equal(c.ca.keyAlgorithm, "ecdsa-p256");
  t.equal(c.seconds.leafTtl, 86400);
  t.equal(c.seconds.maxLeafTtl, 7 * 86400);
  t.equal(c.labelPrefix, "mtls.");
  t.same(c.sources, ["defaults"]);
});

t.test("file, then environment, then flags override", async (t) => {
  const f = file("a.yaml", "ca:\n  trustDomain: file.example\nleaf:\n  ttl: 12h\nrotation:\n  concurrency: 2\n");
  const c = loadConfig({
    file: f,
    env: { SWARM_MTLS_LEAF_TTL: "6h", SWARM_MTLS_ROTATION_CONCURRENCY: "3", SWARM_MTLS_API_ADMIN_IDENTITIES: "ops,admin" },
    flags: { "leaf.ttl": "2h", store: undefined },
  });
  t.equal(c.ca.trustDomain, "file.example", "from the file");
  t.equal(c.rotation.concurrency, 3, "env over file, coerced to a number");
  t.equal(c.seconds.leafTtl, 7200, "flag over env");
  t.same(c.api.adminIdentities, ["ops", "admin"], "lists from comma-separated env");
  t.same(c.sources, ["defaults", f, "env", "flags"]);
});

t.test("every default has an environment variable named after its path", async (t) => {
  const names = environmentNames({ kekFile: "", ca: { trustDomain: "x" }, api: { adminTokenFile: "" } }).map((e) => e.env);
  t.same(names, ["SWARM_MTLS_KEK_FILE", "SWARM_MTLS_CA_TRUST_DOMAIN", "SWARM_MTLS_API_ADMIN_TOKEN_FILE"]);
});

t.test("errors name the field and the value", async (t) => {
  const cases: [Parameters<typeof loadConfig>[0], RegExp][] = [
    [{ file: file("b.yaml", "ca:\n  keyAlgorithm: dsa-1024\n") }, /^config: ca\.keyAlgorithm: 'dsa-1024' /],
    [{ file: file("c.yaml", "leaf:\n  ttl: forever\n") }, /^config: leaf\.ttl: 'forever' is not a duration/],
    [{ file: file("d.yaml", "rotation:\n  concurency: 3\n") }, /^config: unknown setting rotation\.concurency/],
    [{ file: file("e.yaml", "rotation:\n  concurrency: many\n") }, /^config: rotation\.concurrency: 'many'/],
    [{ file: file("f.yaml", "store: s3\n") }, /^config: store: 's3' must be auto, swarm or file:DIR/],
    [{ file: file("g.yaml", "- a\n- b\n") }, /must be a mapping/],
    [{ file: file("h.yaml", "ca: [unclosed\n") }, /not valid YAML/],
    [{ file: join(dir, "missing.yaml") }, /cannot be read \(ENOENT\)/],
    [{ env: { SWARM_MTLS_ROTATION_CONCURRENCY: "x" } }, /SWARM_MTLS_ROTATION_CONCURRENCY='x' is not a number/],
    [{ flags: { "api.listen": "nowhere" } }, /^config: api\.listen: 'nowhere' must be HOST:PORT/],
    [{ env: { SWARM_MTLS_LEAF_TTL: "4m" } }, /^config: leaf\.ttl: '4m' is shorter than the minimum of 5m$/],
    [{ file: file("i.yaml", "ca:\n  maxLeafTtl: 1m\n") }, /^config: ca\.maxLeafTtl: '1m' is shorter than the minimum of 5m$/],
    [{ file: file("j.yaml", "identities:\n  - name: web\n    ttl: 1s\n") }, /^config: identities\.0\.ttl: '1s' is shorter than the minimum of 5m$/],
  ];
  for (const [params, re] of cases) {
    expectMtlsError(t, () => loadConfig(params), "bad-input", re);
  }
});

t.test("api.rateLimit: 600 a minute by default, off with max 0, a window in the duration grammar", async (t) => {
  t.same(loadConfig().api.rateLimit, { max: 600, window: "1m" });
  t.same(loadConfig({ env: { SWARM_MTLS_API_RATE_LIMIT_MAX: "0" } }).api.rateLimit, { max: 0, window: "1m" });
  t.same(loadConfig({ env: { SWARM_MTLS_API_RATE_LIMIT_WINDOW: "10s" } }).api.rateLimit, { max: 600, window: "10s" });
  expectMtlsError(t, () => loadConfig({ env: { SWARM_MTLS_API_RATE_LIMIT_WINDOW: "0s" } }), "bad-input", /^config: api\.rateLimit\.window: '0s' is not a duration/);
  expectMtlsError(t, () => loadConfig({ env: { SWARM_MTLS_API_RATE_LIMIT_MAX: "-1" } }), "bad-input", /^config: api\.rateLimit\.max: '-1' /);
});

t.test("leaf lifetimes use the one duration grammar, down to the one minimum", async (t) => {
  const c = loadConfig({ file: file("k.yaml", "leaf:\n  ttl: 1h30m\nidentities:\n  - name: web\n    ttl: 5m\n") });
  t.equal(c.seconds.leafTtl, 5400, "1h30m");
  t.equal(c.identities[0]?.ttl, "5m", "exactly the minimum is fine");
});

t.test("leaf.dnsSuffixes: none by default, a comma list from SWARM_MTLS_LEAF_DNS_SUFFIXES, a non-suffix refused", async (t) => {
  t.same(loadConfig().leaf.dnsSuffixes, [], "no domain beyond the trust domain unless listed");
  t.same(loadConfig({ env: { SWARM_MTLS_LEAF_DNS_SUFFIXES: "local, *.corp.internal" } }).leaf.dnsSuffixes, ["local", "*.corp.internal"]);
  expectMtlsError(t, () => loadConfig({ env: { SWARM_MTLS_LEAF_DNS_SUFFIXES: "*" } }), "bad-input", /^config: leaf\.dnsSuffixes\.0: '\*' is not a DNS suffix/);
  expectMtlsError(t, () => loadConfig({ file: file("s.yaml", "leaf:\n  dnsSuffixes: ['a b']\n") }), "bad-input", /^config: leaf\.dnsSuffixes\.0: 'a b' is not a DNS suffix/);
});

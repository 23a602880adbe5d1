/**
 * The DNS-name policy of the `mtls.dns` label, decided on plain data: a label may name the service's own Swarm
 * names, names under the trust domain and names under an operator-listed suffix, nothing else. The real-swarm side
 * is test/integration/rotation/dns-name-policy.test.ts.
 */
import "reflect-metadata";
import t from "tap";
import { checkLabelDnsNames, dnsNameGrant, dnsSuffixOf } from "../../../src/rotation/dns-name-policy.js";
import { readServiceIdentity } from "../../../src/rotation/service-identity.js";

const defaults = { prefix: "mtls.", trustDomain: "example.org", ttlSeconds: 86400, maxTtlSeconds: 7 * 86400, keyAlgorithm: "ecdsa-p256" as const };
const read = (name: string, labels: Record<string, string>, dnsSuffixes: string[] = []) =>
  readServiceIdentity({ id: name, name, labels: { "mtls.enable": "true", ...labels } }, { ...defaults, dnsSuffixes });

t.test("a label naming a public host is refused with the label, the name, what is allowed and the setting", async (t) => {
  t.throws(() => read("api", { "mtls.dns": "www.google.com" }), {
    code: "bad-input",
    message:
      "label mtls.dns: 'www.google.com' is outside the allowed DNS names (the service's own names, names under the trust domain example.org); to allow it, add its domain to leaf.dnsSuffixes (SWARM_MTLS_LEAF_DNS_SUFFIXES)",
  });
  t.throws(() => read("api", { "mtls.dns": "api.example.org, www.google.com" }), { message: /'www\.google\.com' is outside/ }, "one bad name among good ones refuses the whole label");
  t.throws(() => read("api", { "mtls.dns": "evil-example.org" }), { message: /'evil-example\.org' is outside/ }, "a name that only ends with the trust domain's text is not under it");
  t.throws(() => read("api", { "mtls.dns": "db" }), { message: /'db' is outside/ }, "another service's bare name is not this service's");
  t.throws(() => read("api", { "mtls.dns": "x.local" }, ["corp.internal"]), { message: /names under the trust domain example\.org, and \*\.corp\.internal\)/ }, "the listed suffixes are shown");
});

t.test("allowed: the service's own names, names under the trust domain, names under a listed suffix", async (t) => {
  t.same(read("api", { "mtls.dns": "api.example.org,EXAMPLE.ORG,a.b.example.org" }).dnsNames, ["api", "tasks.api", "api.example.org", "example.org", "a.b.example.org"]);
  t.same(read("shop_api", { "com.docker.stack.namespace": "shop", "mtls.dns": "api,tasks.api" }).dnsNames, ["api", "tasks.api"], "a stack service's short names are its own");
  t.same(read("web", { "mtls.dns": "web.local,x.corp.internal" }, ["*.local", ".corp.internal"]).dnsNames, ["web", "tasks.web", "web.local", "x.corp.internal"]);
  t.same(read("web", {}).dnsNames, ["web", "tasks.web"], "no label: the default names, no policy question");
});

t.test("dnsNameGrant says why a name is allowed", async (t) => {
  const policy = { trustDomain: "example.org", suffixes: ["local"] };
  t.equal(dnsNameGrant("web", policy, ["web"]), "own");
  t.equal(dnsNameGrant("example.org", policy, []), "trust-domain");
  t.equal(dnsNameGrant("a.example.org", policy, []), "trust-domain");
  t.equal(dnsNameGrant("web.local", policy, []), "suffix");
  t.equal(dnsNameGrant("local", policy, []), null, "a suffix allows names under it, not itself");
  t.equal(dnsNameGrant("www.google.com", policy, []), null);
  t.doesNotThrow(() => checkLabelDnsNames("mtls.dns", [], policy, []), "no names, nothing to refuse");
});

t.test("suffix entries: *.x, .x and x mean the same; a wildcard alone or a non-name is refused", async (t) => {
  t.equal(dnsSuffixOf("*.Corp.Internal"), "corp.internal");
  t.equal(dnsSuffixOf(".local"), "local");
  t.equal(dnsSuffixOf("local"), "local");
  for (const bad of ["*", "", "*.", "a b", "x,y"]) t.throws(() => dnsSuffixOf(bad), { code: "bad-input", message: /leaf\.dnsSuffixes/ }, `'${bad}' refused`);
});

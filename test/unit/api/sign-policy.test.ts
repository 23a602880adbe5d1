import t, { type Test } from "tap";
import { csrRequests, decideSign, type AllowedIdentity } from "../../../src/rotation/sign-policy.js";
import { MtlsError } from "../../../src/errors.js";
import { opensslCsr } from "./csr-fixtures.js";

const API: AllowedIdentity = {
  identity: "shop_api",
  dnsNames: ["shop_api", "tasks.shop_api", "api", "tasks.api", "api.example.org"],
  uris: ["spiffe://example.org/swarm/shop/api"],
  ttlSeconds: 86400,
};
const NO_CSR_NAMES = { ca: null, dnsNames: [], uris: [], otherNames: [] };
const base = { allowed: API, csr: NO_CSR_NAMES, maxTtlSeconds: 7 * 86400, knownFrom: "no opted-in service has it" };

function refused(t: Test, f: () => unknown, re: RegExp, what: string): void {
  try {
    f();
    t.fail(`${what}: was allowed`);
  } catch (e) {
    t.ok(e instanceof MtlsError && e.code === "bad-input", `${what}: bad-input`);
    t.match((e as Error).message, re, `${what}: the message names it`);
  }
}

t.test("an allowed request gets the identity's names, SPIFFE ID and lifetime", async (t) => {
  const d = decideSign({ ...base, request: { identity: "shop_api" } });
  t.same(d, { identity: "shop_api", dnsNames: API.dnsNames, uris: API.uris, ttlSeconds: 86400 });
  const sub = decideSign({ ...base, request: { identity: "shop_api", dnsNames: ["API.example.org"], ttlSeconds: 3600 } });
  t.same(sub.dnsNames, ["api.example.org"], "a subset, lower-cased");
  t.equal(sub.ttlSeconds, 3600);
});

t.test("unknown identity, foreign names, CA:TRUE, foreign CSR SANs and long TTLs are refused, naming the problem", async (t) => {
  refused(t, () => decideSign({ ...base, allowed: undefined, request: { identity: "ghost" } }), /identity 'ghost' is not a known identity: no opted-in service/, "unknown identity");
  refused(t, () => decideSign({ ...base, request: { identity: "shop_api", dnsNames: ["api.example.org", "google.com"] } }), /'google\.com' is not a name of identity 'shop_api'/, "foreign DNS name");
  refused(t, () => decideSign({ ...base, request: { identity: "shop_api", dnsNames: ["*.example.org"] } }), /wildcards are not allowed/, "wildcard");
  refused(t, () => decideSign({ ...base, csr: { ...NO_CSR_NAMES, ca: true }, request: { identity: "shop_api" } }), /CA:TRUE/, "CSR asks for CA:TRUE");
  refused(t, () => decideSign({ ...base, csr: { ...NO_CSR_NAMES, dnsNames: ["bank.example.com"] }, request: { identity: "shop_api" } }), /the CSR asks for DNS name 'bank\.example\.com', which is not a name of identity 'shop_api'/, "CSR with a foreign DNS SAN");
  refused(t, () => decideSign({ ...base, csr: { ...NO_CSR_NAMES, uris: ["spiffe://example.org/id/admin"] }, request: { identity: "shop_api" } }), /URI 'spiffe:\/\/example\.org\/id\/admin'/, "CSR with a foreign URI SAN");
  refused(t, () => decideSign({ ...base, csr: { ...NO_CSR_NAMES, otherNames: ["ip:10.0.0.1"] }, request: { identity: "shop_api" } }), /ip:10\.0\.0\.1/, "CSR with an IP SAN");
  refused(t, () => decideSign({ ...base, request: { identity: "shop_api", ttlSeconds: 8 * 86400 } }), /over the CA maximum/, "ttl");
  t.doesNotThrow(() => decideSign({ ...base, csr: { ca: false, dnsNames: ["api"], uris: API.uris, otherNames: [] }, request: { identity: "shop_api" } }), "CA:FALSE and SANs within policy are fine");
});

t.test("csrRequests reads basicConstraints and SANs from real openssl CSRs", async (t) => {
  t.same(csrRequests(opensslCsr("api")), { ca: null, dnsNames: [], uris: [], otherNames: [] }, "no extension request");
  t.equal(csrRequests(opensslCsr("api", ["basicConstraints=critical,CA:TRUE"])).ca, true, "CA:TRUE");
  t.equal(csrRequests(opensslCsr("api", ["basicConstraints=CA:FALSE"])).ca, false, "CA:FALSE");
  const san = csrRequests(opensslCsr("api", ["subjectAltName=DNS:google.com,URI:spiffe://example.org/id/x,IP:10.0.0.1"]));
  t.same(san.dnsNames, ["google.com"]);
  t.same(san.uris, ["spiffe://example.org/id/x"]);
  t.same(san.otherNames, ["ip:10.0.0.1"]);
  t.throws(() => csrRequests("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), /could not be parsed/);
});

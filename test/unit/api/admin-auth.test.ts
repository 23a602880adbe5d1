import t from "tap";
import {
  adminFromPeerCertificate, bearerTokenFrom, createAdminAuth, namesOfCertificate, tokenMatches, uriSansOf,
} from "../../../src/api/admin-auth.js";

t.test("tokenMatches accepts only the exact token, whatever the lengths", async (t) => {
  t.equal(tokenMatches("s3cret-token", "s3cret-token"), true);
  t.equal(tokenMatches("s3cret-token", "s3cret-tokeN"), false);
  t.equal(tokenMatches("s3cret-token", "s3cret"), false);
  t.equal(tokenMatches("s3cret-token", "s3cret-token-and-more"), false);
  t.equal(tokenMatches("s3cret-token", ""), false);
});

t.test("bearerTokenFrom reads `Bearer <token>` only", async (t) => {
  t.equal(bearerTokenFrom("Bearer abc.def"), "abc.def");
  t.equal(bearerTokenFrom("bearer abc"), "abc", "the scheme is case-insensitive");
  t.equal(bearerTokenFrom("Bearer   abc  "), "abc");
  t.equal(bearerTokenFrom(undefined), null);
  t.equal(bearerTokenFrom("Bearer"), null);
  t.equal(bearerTokenFrom("Bearer "), null);
  t.equal(bearerTokenFrom("Basic YWRtaW46eA=="), null);
  t.equal(bearerTokenFrom("Bearer a b"), null);
});

t.test("uriSansOf reads URI SANs as Node reports them, quoted or bare", async (t) => {
  t.same(uriSansOf("DNS:api, URI:spiffe://td/swarm/ops/admin, IP Address:127.0.0.1"), ["spiffe://td/swarm/ops/admin"]);
  t.same(uriSansOf('URI:"spiffe://td/a,b", URI:spiffe://td/c'), ["spiffe://td/a,b", "spiffe://td/c"]);
  t.same(uriSansOf("DNS:only"), []);
  t.same(uriSansOf(undefined), []);
});

t.test("namesOfCertificate lists URI SANs then the CN", async (t) => {
  t.same(namesOfCertificate({ subject: { CN: "ops-admin" } as never, subjectaltname: "URI:spiffe://td/x" }), ["spiffe://td/x", "ops-admin"]);
});

t.test("adminFromPeerCertificate grants admin only to a verified certificate naming an admin identity", async (t) => {
  const cert = { subject: { CN: "ops-admin" } as never, subjectaltname: "URI:spiffe://td/swarm/ops/admin" };
  t.equal(adminFromPeerCertificate(true, cert, ["spiffe://td/swarm/ops/admin"]), "spiffe://td/swarm/ops/admin");
  t.equal(adminFromPeerCertificate(true, cert, ["ops-admin"]), "ops-admin", "by CN");
  t.equal(adminFromPeerCertificate(false, cert, ["spiffe://td/swarm/ops/admin"]), null, "unverified chain");
  t.equal(adminFromPeerCertificate(true, cert, ["spiffe://td/swarm/ops/other"]), null, "not an admin identity");
  t.equal(adminFromPeerCertificate(true, cert, []), null, "no admin identities");
  t.equal(adminFromPeerCertificate(true, null, ["ops-admin"]), null, "no certificate");
});

t.test("createAdminAuth: token → 'token'; a verified admin client certificate → its identity; otherwise null", async (t) => {
  const auth = createAdminAuth({ adminToken: "tok", adminIdentities: ["spiffe://td/admin"] });
  const plainSocket = {};
  t.equal(auth({ headers: { authorization: "Bearer tok" }, socket: plainSocket }), "token");
  t.equal(auth({ headers: { authorization: "Bearer nope" }, socket: plainSocket }), null);
  t.equal(auth({ headers: {}, socket: plainSocket }), null);
  const tlsSocket = (authorized: boolean, san: string | null) => ({
    authorized,
    getPeerCertificate: () => (san === null ? {} : { subject: { CN: "x" }, subjectaltname: san }),
  });
  t.equal(auth({ headers: {}, socket: tlsSocket(true, "URI:spiffe://td/admin") }), "spiffe://td/admin");
  t.equal(auth({ headers: {}, socket: tlsSocket(false, "URI:spiffe://td/admin") }), null);
  t.equal(auth({ headers: {}, socket: tlsSocket(true, "URI:spiffe://td/other") }), null);
  t.equal(auth({ headers: {}, socket: tlsSocket(true, null) }), null);
  const noToken = createAdminAuth({ adminToken: null });
  t.equal(noToken({ headers: { authorization: "Bearer null" }, socket: plainSocket }), null);
});

import t from "tap";
import {
  adminFromPeerCertificate, adminSpiffeIds, bearerTokenFrom, createAdminAuth, tokenMatches, uriSansOf,
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

t.test("adminFromPeerCertificate grants admin only to a verified certificate carrying a listed admin SPIFFE ID", async (t) => {
  const admin = "spiffe://td/admin/ops";
  const cert = { subject: { CN: "ops" } as never, subjectaltname: `URI:${admin}` };
  t.equal(adminFromPeerCertificate(true, cert, [admin]), admin);
  t.equal(adminFromPeerCertificate(false, cert, [admin]), null, "unverified chain");
  t.equal(adminFromPeerCertificate(true, cert, ["spiffe://td/admin/other"]), null, "not a listed admin");
  t.equal(adminFromPeerCertificate(true, cert, []), null, "no admin identities");
  t.equal(adminFromPeerCertificate(true, null, [admin]), null, "no certificate");
  const workload = { subject: { CN: "ops" } as never, subjectaltname: "URI:spiffe://td/swarm/ops/admin" };
  t.equal(adminFromPeerCertificate(true, workload, ["ops", "spiffe://td/swarm/ops/admin"]), null, "never by CN, never by a workload's SPIFFE ID");
});

t.test("adminSpiffeIds: admin names and admin IDs of this trust domain; anything else is refused naming the setting", async (t) => {
  t.same(adminSpiffeIds(["alice", " spiffe://td/admin/bob ", "alice"], "td"), ["spiffe://td/admin/alice", "spiffe://td/admin/bob"]);
  t.same(adminSpiffeIds([], "td"), []);
  t.throws(() => adminSpiffeIds(["spiffe://td/swarm/ops/admin"], "td"), { code: "bad-input", message: /^api\.adminIdentities: 'spiffe:\/\/td\/swarm\/ops\/admin' is not an admin SPIFFE ID of this CA \(spiffe:\/\/td\/admin\/<name>\)/ });
  t.throws(() => adminSpiffeIds(["spiffe://other/admin/alice"], "td"), { code: "bad-input", message: /not an admin SPIFFE ID of this CA/ });
  t.throws(() => adminSpiffeIds(["Ops Admin"], "td"), { code: "bad-input", message: /^api\.adminIdentities: 'Ops Admin' is not an admin name/ });
});

t.test("createAdminAuth: token → 'token'; a verified admin client certificate → its identity; otherwise null", async (t) => {
  const auth = createAdminAuth({ adminToken: "tok", adminIdentities: ["spiffe://td/admin/ops"] });
  const plainSocket = {};
  t.equal(auth({ headers: { authorization: "Bearer tok" }, socket: plainSocket }), "token");
  t.equal(auth({ headers: { authorization: "Bearer nope" }, socket: plainSocket }), null);
  t.equal(auth({ headers: {}, socket: plainSocket }), null);
  const tlsSocket = (authorized: boolean, san: string | null) => ({
    authorized,
    getPeerCertificate: () => (san === null ? {} : { subject: { CN: "x" }, subjectaltname: san }),
  });
  t.equal(auth({ headers: {}, socket: tlsSocket(true, "URI:spiffe://td/admin/ops") }), "spiffe://td/admin/ops");
  t.equal(auth({ headers: {}, socket: tlsSocket(false, "URI:spiffe://td/admin/ops") }), null);
  t.equal(auth({ headers: {}, socket: tlsSocket(true, "URI:spiffe://td/other") }), null);
  t.equal(auth({ headers: {}, socket: tlsSocket(true, null) }), null);
  const noToken = createAdminAuth({ adminToken: null });
  t.equal(noToken({ headers: { authorization: "Bearer null" }, socket: plainSocket }), null);
});

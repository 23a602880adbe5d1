/**
 * POST /v1/renew's decision (pure) and route without TLS: who may renew, with which CSR; a request without a client
 * certificate is refused before its body is read.
 */
import t from "tap";
import { buildApiApp } from "../../../src/api/app.js";
import { createMetrics } from "../../../src/api/metrics.js";
import { createLogger } from "../../../src/log.js";
import { decideRenew, describeTlsRefusal, type RenewPeer } from "../../../src/sds/renew.js";
import type { SdsIdentity } from "../../../src/sds/working-cert.js";
import { opensslCsr } from "../api/csr-fixtures.js";
import { FakeControlPlane } from "../api/fake-control-plane.js";

const TD = "td.example";
const WEB = `spiffe://${TD}/id/web`;
const now = new Date("2026-01-01T12:00:00Z");
const web: SdsIdentity = { spiffeId: WEB, identity: "web", service: "web", dnsNames: ["web", "web.local"] };
const peer = (p: Partial<RenewPeer> = {}): RenewPeer => ({ authorized: true, subjectAltName: `DNS:web, URI:${WEB}`, notBefore: new Date("2026-01-01T00:00:00Z"), notAfter: new Date("2026-01-02T00:00:00Z"), ...p });
const plainCsr = opensslCsr("anything");
const decide = (p: { peer?: RenewPeer | null; identity?: SdsIdentity | undefined; csrPem?: string } = {}) =>
  decideRenew({ peer: p.peer === undefined ? peer() : p.peer, trustDomain: TD, identity: "identity" in p ? p.identity : web, csrPem: p.csrPem ?? plainCsr, now });

t.test("an opted-in identity renews its own certificate; the CSR's subject does not matter", async (t) => {
  t.match(decide(), { ok: true, identity: { spiffeId: WEB } });
  t.match(decide({ csrPem: opensslCsr("web", [`subjectAltName=DNS:web.local,URI:${WEB}`]) }), { ok: true }, "names of the identity may be asked for");
});

t.test("refused: no certificate, unverified, expired, not opted in", async (t) => {
  t.match(decide({ peer: null }), { ok: false, code: "unauthorized", message: /client certificate/ });
  t.match(decide({ peer: peer({ authorized: false, authorizationError: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY" }) }), { ok: false, code: "unauthorized", message: /does not chain to this CA/ });
  t.match(decide({ peer: peer({ authorized: false, authorizationError: "CERT_HAS_EXPIRED" }) }), { ok: false, code: "unauthorized", message: /expired/ });
  t.match(decide({ peer: peer({ notAfter: new Date("2026-01-01T11:00:00Z") }) }), { ok: false, code: "unauthorized", message: /expired/ }, "checked again, not only by TLS");
  t.match(decide({ peer: peer({ subjectAltName: "DNS:web" }) }), { ok: false, code: "unauthorized", message: /exactly one SPIFFE ID/ });
  t.match(decide({ identity: undefined }), { ok: false, code: "forbidden", message: /not opted in/ });
  t.match(decide({ identity: { ...web, spiffeId: `spiffe://${TD}/id/api` } }), { ok: false, code: "forbidden" }, "the list answered for another identity");
  t.match(describeTlsRefusal("DEPTH_ZERO_SELF_SIGNED_CERT"), /self-signed/);
});

t.test("refused: a CSR with names the identity does not have, for a CA, or not a CSR", async (t) => {
  t.match(decide({ csrPem: opensslCsr("web", ["subjectAltName=DNS:evil.example"]) }), { ok: false, code: "bad-input", message: /evil\.example/ });
  t.match(decide({ csrPem: opensslCsr("web", [`subjectAltName=URI:spiffe://${TD}/id/api`]) }), { ok: false, code: "bad-input", message: /id\/api/ });
  t.match(decide({ csrPem: opensslCsr("web", ["basicConstraints=critical,CA:TRUE"]) }), { ok: false, code: "bad-input", message: /CA certificate/ });
  t.match(decide({ csrPem: "hello" }), { ok: false, code: "bad-input", message: /PKCS#10/ });
  t.match(decide({ peer: null, csrPem: "hello" }), { ok: false, code: "unauthorized" }, "an unauthenticated body is not looked at");
});

t.test("the route: plain HTTP or no certificate gets 401 before the body is read; off without SDS", async (t) => {
  const build = async (renew: Parameters<typeof buildApiApp>[0]["renew"]) => {
    const app = await buildApiApp({ controlPlane: new FakeControlPlane(), metrics: createMetrics(), logger: createLogger({ level: "silent", pretty: false }), adminToken: null, renew });
    t.teardown(() => app.close());
    return app;
  };
  let called = 0;
  const on = await build(async () => {
    called++;
    return { chainPem: "", serial: "01", notAfter: now };
  });
  const r = await on.inject({ method: "POST", url: "/v1/renew", headers: { "content-type": "application/x-pem-file" }, payload: plainCsr });
  t.equal(r.statusCode, 401);
  t.match(r.json(), { code: "unauthorized", detail: /client certificate/ });
  t.equal(called, 0, "nothing renewed");
  const off = await build(null);
  const r2 = await off.inject({ method: "POST", url: "/v1/renew", headers: { "content-type": "application/x-pem-file" }, payload: plainCsr });
  t.equal(r2.statusCode, 404);
  t.match(r2.json(), { detail: /serve --sds/ });
  const spec = (await (await build(null)).inject({ method: "GET", url: "/docs/json" })).json() as { paths: Record<string, unknown> };
  t.ok(spec.paths["/v1/renew"], "in the OpenAPI document");
});

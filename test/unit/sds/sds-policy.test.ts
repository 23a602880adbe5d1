import t from "tap";
import { decideSdsAccess, sdsCaller, spiffeIdsOf } from "../../../src/sds/sds-access.js";
import { afterRequest, afterSend, needsPush, newStreamState, readRequest, versionOf } from "../../../src/sds/sds-stream.js";
import { SECRET_TYPE_URL, type DiscoveryRequest } from "../../../src/sds/sds-protos.js";
import { workingCertDue, workingTtlFloor, workingTtlSeconds, type WorkingCert } from "../../../src/sds/working-cert.js";

const now = new Date("2026-01-01T12:00:00Z");
const peer = (san: string, from = "2026-01-01T00:00:00Z", to = "2026-01-02T00:00:00Z") => ({ subjectAltName: san, notBefore: new Date(from), notAfter: new Date(to) });
const WEB = "spiffe://td.example/id/web";
const access = (names: string[], p = peer(`URI:${WEB}, DNS:web`), optedIn = true) => decideSdsAccess({ peer: p, names, trustDomain: "td.example", optedIn: () => optedIn, now });

t.test("access: own certificate and the bundle only", async (t) => {
  t.match(access([WEB, "spiffe://td.example"]), { ok: true, spiffeId: WEB, resources: [{ kind: "working-certificate" }, { kind: "trust-bundle" }] });
  t.match(access(["spiffe://td.example/id/api"]), { ok: false, code: "permission-denied" });
  t.match(access([WEB, "spiffe://td.example/id/api"]), { ok: false, code: "permission-denied" }, "one foreign name refuses the whole request");
  t.match(access([]), { ok: false, code: "invalid-argument" }, "wildcard");
  t.match(access([WEB], peer(`URI:${WEB}`), false), { ok: false, code: "permission-denied", message: /not opted in/ });
  t.match(access([WEB], peer("DNS:web")), { ok: false, code: "unauthenticated" }, "no SPIFFE ID");
  t.match(access([WEB], peer(`URI:${WEB}, URI:spiffe://td.example/id/x`)), { ok: false, code: "unauthenticated" }, "two SPIFFE IDs");
  t.match(access(["spiffe://other/id/web"], peer("URI:spiffe://other/id/web")), { ok: false, code: "unauthenticated" }, "foreign trust domain");
  t.match(access([WEB], peer(`URI:${WEB}`, "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z")), { ok: false, message: /expired/ });
  t.match(access([WEB], peer(`URI:${WEB}`, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")), { ok: false, message: /not valid yet/ });
  t.match(sdsCaller(null, "td.example", now), { ok: false });
  t.same(spiffeIdsOf("DNS:a, URI:spiffe://x/y, URI:https://z"), ["spiffe://x/y"]);
});

t.test("SotW stream: subscribe, ACK, NACK, stale, names change", async (t) => {
  const req = (p: Partial<DiscoveryRequest>): DiscoveryRequest => ({ version_info: "", resource_names: [WEB], type_url: SECRET_TYPE_URL, response_nonce: "", error_detail: null, ...p });
  let s = newStreamState();
  t.match(readRequest(s, req({})), { kind: "subscribe", names: [WEB], ack: null });
  s = afterSend(s, { nonce: "n1", version: "v1", names: [WEB] });
  t.notOk(needsPush(s, "v1"), "same version: nothing to send");
  t.ok(needsPush(s, "v2"), "new version: push");
  const ack = readRequest(s, req({ response_nonce: "n1", version_info: "v1" }));
  t.same(ack, { kind: "ack", version: "v1" });
  s = afterRequest(s, ack);
  t.equal(s.acked, "v1");
  t.match(readRequest(s, req({ response_nonce: "n0" })), { kind: "stale" });
  const nack = readRequest(s, req({ response_nonce: "n1", version_info: "v1", error_detail: { code: 3, message: "bad" } }));
  t.match(nack, { kind: "nack", message: "bad", names: null });
  t.equal(afterRequest(s, nack).nacks, 1);
  t.match(readRequest(s, req({ response_nonce: "n1", resource_names: [WEB, "spiffe://td.example"] })), { kind: "subscribe", ack: "v1" }, "an ACK that changes the names re-subscribes");
  t.match(readRequest(s, req({ type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster" })), { kind: "refuse" });
  t.equal(versionOf([{ name: "a", version: "1" }, { name: "b", version: "2" }]), versionOf([{ name: "b", version: "2" }, { name: "a", version: "1" }]), "order does not matter");
});

t.test("working certificate: lifetime bounds, test-only floor, due", async (t) => {
  t.equal(workingTtlFloor({}), 300);
  t.equal(workingTtlFloor({ SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL: "20" }), 20);
  t.throws(() => workingTtlFloor({ SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL: "1" }), { code: "bad-input" });
  t.equal(workingTtlSeconds({ text: "1h", floorSeconds: 300, maxLeafTtlSeconds: 86400 }), 3600);
  t.throws(() => workingTtlSeconds({ text: "1m", floorSeconds: 300, maxLeafTtlSeconds: 86400 }), { code: "bad-input", message: /sds.workingTtl.*minimum of 5m/ });
  t.throws(() => workingTtlSeconds({ text: "2d", floorSeconds: 300, maxLeafTtlSeconds: 86400 }), { code: "bad-input", message: /CA maximum/ });
  const c = { issuerPem: "I", renewAt: new Date("2026-01-01T12:40:00Z") } as WorkingCert;
  t.equal(workingCertDue(undefined, { intermediate: { certPem: "I" } } as never, now), "missing");
  t.equal(workingCertDue(c, { intermediate: { certPem: "I" } } as never, now), null);
  t.equal(workingCertDue(c, { intermediate: { certPem: "I" } } as never, new Date("2026-01-01T12:40:00Z")), "due");
  t.equal(workingCertDue(c, { intermediate: { certPem: "J" } } as never, now), "ca-rotated");
});

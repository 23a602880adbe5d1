import t from "tap";
import { envoyProtoRoot } from "../../../src/envoy/envoy-proto-root.js";
import { loadSdsProtoRoot, loadSdsProtos, SDS_SERVICE, SECRET_TYPE_URL, type DiscoveryResponse } from "../../../src/sds/sds-protos.js";

// serve loads only sds.proto and secret.proto (with their imports); what goes on the wire must be what the whole
// Envoy API gives.
const small = loadSdsProtos(loadSdsProtoRoot());
const full = loadSdsProtos(envoyProtoRoot());

const response: DiscoveryResponse = {
  version_info: "v1",
  type_url: SECRET_TYPE_URL,
  nonce: "n1",
  resources: [
    { name: "spiffe://td/id/web", tls_certificate: { certificate_chain: { inline_bytes: Buffer.from("chain") }, private_key: { inline_bytes: Buffer.from("key") } } },
    { name: "spiffe://td", validation_context: { trusted_ca: { inline_bytes: Buffer.from("bundle") } } },
  ],
};
const request = { version_info: "v1", node: { id: "n", cluster: "c" }, resource_names: ["spiffe://td/id/web", "spiffe://td"], type_url: SECRET_TYPE_URL, response_nonce: "n1", error_detail: { code: 3, message: "bad" } };

t.test("the SDS protos encode and decode as the whole Envoy API does", async (t) => {
  t.same(small.encodeResponse(response), full.encodeResponse(response));
  t.same(small.encodeRequest(request), full.encodeRequest(request));
  t.same(small.decodeResponse(full.encodeResponse(response)), full.decodeResponse(full.encodeResponse(response)));
  t.same(small.decodeRequest(full.encodeRequest(request)), full.decodeRequest(full.encodeRequest(request)));
  t.match(small.decodeRequest(small.encodeRequest(request)), { resource_names: request.resource_names, error_detail: { message: "bad" } });
});

t.test("the service definition has Envoy's methods, paths and streaming flags", async (t) => {
  const shape = (s: typeof small.service) => Object.fromEntries(Object.entries(s).map(([k, m]) => [k, [m.path, m.requestStream, m.responseStream]]));
  t.same(shape(small.service), shape(full.service));
  t.same(shape(small.service).StreamSecrets, [`/${SDS_SERVICE}/StreamSecrets`, true, true]);
});

t.test("a deps directory without the protos is a clear error", async (t) => {
  t.throws(() => loadSdsProtoRoot("/nonexistent"), { message: /could not load the SDS protos from \/nonexistent/ });
});

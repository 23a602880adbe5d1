import t from "tap";
import { errorReplyFor, formatSchemaErrors, GENERIC_INTERNAL_MESSAGE, PUBLIC_SERVER_MESSAGES } from "../../../src/api/error-reply.js";
import { MtlsError } from "../../../src/errors.js";

t.test("errorReplyFor maps MtlsError, fastify request errors and the unknown", async (t) => {
  t.same(errorReplyFor(new MtlsError("lease-held", "another rotator holds the lease")), {
    status: 409, body: { error: { code: "lease-held", message: "another rotator holds the lease" } }, logLevel: "info",
  });
  t.match(errorReplyFor(new MtlsError("docker", "engine unreachable")), { status: 502, logLevel: "error" });
  t.same(errorReplyFor(new MtlsError("internal", "bug details")).body.error.message, GENERIC_INTERNAL_MESSAGE);
  t.match(errorReplyFor(Object.assign(new Error("Request body is too large"), { statusCode: 413 })), {
    status: 413, body: { error: { code: "bad-input", message: "Request body is too large" } },
  });
  t.match(errorReplyFor(Object.assign(new Error("x"), { statusCode: 503 })), { status: 500, body: { error: { code: "internal" } } });
  t.match(errorReplyFor(new TypeError("cannot read x of undefined")), { status: 500, body: { error: { message: GENERIC_INTERNAL_MESSAGE } } });
  t.match(errorReplyFor("a string"), { status: 500 });
});

t.test("a server-side failure's own message only for an admin; 4xx messages for everyone", async (t) => {
  const kek = new MtlsError("kek", "the key-encryption key /run/secrets/swarm-mtls-kek does not open the CA state");
  t.equal(errorReplyFor(kek).body.error.message, PUBLIC_SERVER_MESSAGES.kek, "anonymous: the kind only");
  t.equal(errorReplyFor(kek, { detailed: false }).body.error.message, "the CA state cannot be opened; see the swarm-mtls log");
  t.equal(errorReplyFor(kek, { detailed: true }).body.error.message, kek.message, "admin: the detail");
  t.equal(errorReplyFor(new MtlsError("rollout-failed", "task failed: no suitable node")).body.error.message, "the rollout failed; see the swarm-mtls log");
  t.equal(errorReplyFor(new MtlsError("internal", "bug"), { detailed: true }).body.error.message, GENERIC_INTERNAL_MESSAGE, "internal: hidden from admins too");
  t.equal(errorReplyFor(new MtlsError("not-found", "no opted-in service has identity x")).body.error.message, "no opted-in service has identity x");
  t.same(errorReplyFor(new MtlsError("rate-limited", "too many requests")), { status: 429, body: { error: { code: "rate-limited", message: "too many requests" } }, logLevel: "info" });
});

t.test("formatSchemaErrors names the field", async (t) => {
  t.equal(formatSchemaErrors([{ keyword: "required", instancePath: "", params: { missingProperty: "csr" }, message: "x" }], "body").message, "body.csr is required");
  t.equal(formatSchemaErrors([{ keyword: "additionalProperties", instancePath: "", params: { additionalProperty: "forced" } }], "body").message, 'body has unknown field "forced"');
  t.equal(formatSchemaErrors([{ keyword: "type", instancePath: "/dns/2", message: "must be string" }], "body").message, "body.dns.2 must be string");
  t.equal(formatSchemaErrors([], "params").message, "params is invalid");
});

import t from "tap";
import { errorReplyFor, formatSchemaErrors, GENERIC_INTERNAL_MESSAGE } from "../../../src/api/error-reply.js";
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

t.test("formatSchemaErrors names the field", async (t) => {
  t.equal(formatSchemaErrors([{ keyword: "required", instancePath: "", params: { missingProperty: "csr" }, message: "x" }], "body").message, "body.csr is required");
  t.equal(formatSchemaErrors([{ keyword: "additionalProperties", instancePath: "", params: { additionalProperty: "forced" } }], "body").message, 'body has unknown field "forced"');
  t.equal(formatSchemaErrors([{ keyword: "type", instancePath: "/dns/2", message: "must be string" }], "body").message, "body.dns.2 must be string");
  t.equal(formatSchemaErrors([], "params").message, "params is invalid");
});

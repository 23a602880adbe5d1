import t from "tap";
import { isMtlsError } from "../../../src/errors.js";
import { dockerError, dockerStatusCode, isNameConflict, isNotFound, isOutOfSequence, readDockerFailure } from "../../../src/swarm/docker-error.js";
import { engineFailure } from "../../fixtures/swarm/memory-swarm.js";

t.test("out of sequence: docker error naming the call, detectable", async (t) => {
  const e = dockerError("update service api", engineFailure(500, "rpc error: code = Unknown desc = update out of sequence"));
  t.ok(isMtlsError(e, "docker"));
  t.equal(e.message, "docker: update service api failed: 500 rpc error: code = Unknown desc = update out of sequence");
  t.equal(isOutOfSequence(e), true);
  t.equal(isNameConflict(e), false);
  t.equal(dockerStatusCode(e), 500);
});

t.test("404 becomes not-found", async (t) => {
  const e = dockerError("inspect service nope", engineFailure(404, "service nope not found"));
  t.ok(isMtlsError(e, "not-found"));
  t.equal(isNotFound(e), true);
  t.equal(e.message, "docker: inspect service nope failed: not found (service nope not found)");
});

t.test("409 / AlreadyExists is a name conflict", async (t) => {
  t.equal(isNameConflict(dockerError("create secret a", engineFailure(409, "rpc error: code = AlreadyExists desc = secret a already exists"))), true);
  t.equal(isNameConflict(dockerError("create secret a", engineFailure(500, "rpc error: code = AlreadyExists desc = x"))), true);
});

t.test("unreachable engine: socket error code in the message, no status", async (t) => {
  const sock = Object.assign(new Error("connect ENOENT /var/run/docker.sock"), { code: "ENOENT" });
  const e = dockerError("info", sock);
  t.equal(e.message, "docker: info failed: engine unreachable: connect ENOENT /var/run/docker.sock");
  t.equal(dockerStatusCode(e), undefined);
  t.equal(isOutOfSequence(e), false);
});

t.test("modem message without json; plain values; MtlsError passes through", async (t) => {
  t.same(readDockerFailure("x", { statusCode: 500, message: "(HTTP code 500) server error - boom " }), { call: "x", statusCode: 500, engineMessage: "boom" });
  t.same(readDockerFailure("x", "weird"), { call: "x", engineMessage: "weird" });
  t.same(readDockerFailure("x", { statusCode: 502, json: "bad gateway\n" }), { call: "x", statusCode: 502, engineMessage: "bad gateway" });
  const inner = dockerError("a", engineFailure(500, "m"));
  t.equal(dockerError("b", inner), inner);
  t.equal(isOutOfSequence(new Error("update out of sequence")), false, "only our own docker errors are read");
});

t.test("the message never carries the request (secret data)", async (t) => {
  const err = Object.assign(engineFailure(400, "invalid secret name"), { request: { body: "c2VjcmV0LWtleQ==" } });
  const e = dockerError("create secret x", err);
  t.notMatch(e.message, /c2VjcmV0/);
  t.notMatch(JSON.stringify({ m: e.message, c: String(e.cause) }), /c2VjcmV0/);
});

import t from "tap";
import { MtlsError } from "../../../src/errors.js";
import { dockerError } from "../../../src/swarm/docker-error.js";
import { isTransientReadFailure, retryRead } from "../../../src/swarm/retry-read.js";

/** A failed engine call as the adapter raises it: an HTTP answer, or a socket error without one. */
const answered = (status: number, message: string) => dockerError("inspect service api", { statusCode: status, json: { message } });
const socket = (code: string, message: string) => dockerError("inspect service api", Object.assign(new Error(message), { code }));

t.test("which read failures are transient", async (t) => {
  t.ok(isTransientReadFailure(socket("ECONNRESET", "socket hang up")), "connection reset");
  t.ok(isTransientReadFailure(socket("EPIPE", "write EPIPE")), "broken pipe");
  t.ok(isTransientReadFailure(socket("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:2375")), "refused (daemon restarting)");
  t.ok(isTransientReadFailure(answered(500, "rpc error: code = Unknown desc = raft: no elected cluster leader")), "500");
  t.ok(isTransientReadFailure(answered(503, "the swarm does not have a leader")), "503");
  t.notOk(isTransientReadFailure(answered(404, "service api not found")), "404: asking again gives the same answer");
  t.notOk(isTransientReadFailure(answered(400, "bad filter")), "400");
  t.notOk(isTransientReadFailure(socket("ETIMEDOUT", "timeout")), "a timeout is not waited out again");
  t.notOk(isTransientReadFailure(new MtlsError("bad-input", "ECONNRESET in a label")), "only engine-call failures");
  t.notOk(isTransientReadFailure(new Error("ECONNRESET")), "not a plain error");
});

t.test("a transient failure is read again, with doubling backoff, and the answer returned", async (t) => {
  const sleeps: number[] = [];
  let n = 0;
  const v = await retryRead(async () => {
    if (++n < 3) throw socket("ECONNRESET", "socket hang up");
    return "ok";
  }, { sleep: async (ms) => void sleeps.push(ms) });
  t.equal(v, "ok");
  t.equal(n, 3);
  t.same(sleeps, [200, 400]);
});

t.test("bounded: after the last try the engine's error is thrown as it is", async (t) => {
  let n = 0;
  const err = await retryRead(async () => {
    n++;
    throw answered(500, "injected");
  }, { attempts: 4, sleep: async () => {} }).catch((e: unknown) => e);
  t.equal(n, 4, "4 tries, no more");
  t.match((err as Error).message, /^docker: inspect service api failed: 500 injected$/, "the message names the call");
});

t.test("anything else is thrown at once", async (t) => {
  let n = 0;
  await t.rejects(retryRead(async () => {
    n++;
    throw answered(404, "no such service");
  }, { sleep: async () => {} }), { code: "not-found" });
  t.equal(n, 1);
});

import t from "tap";
import { cachedCheck } from "../../../src/rotation/cached-check.js";

t.test("an answer is reused for ttlMs; concurrent callers share one check; a failure is not cached", async (t) => {
  let now = 0;
  let calls = 0;
  let fail = false;
  const check = cachedCheck({
    ttlMs: 5000,
    now: () => now,
    check: async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (fail) throw new Error("store down");
      return { ready: true, n: calls };
    },
  });
  const [a, b, c] = await Promise.all([check(), check(), check()]);
  t.equal(calls, 1, "three concurrent probes, one check");
  t.same([a, b, c].map((x) => x.n), [1, 1, 1]);
  for (let i = 0; i < 100; i++) await check();
  t.equal(calls, 1, "a hundred probes within the window: still one check");
  now = 5000;
  t.equal((await check()).n, 2, "after the window: checked again");
  now = 10_000;
  fail = true;
  await t.rejects(check(), /store down/);
  fail = false;
  t.equal((await check()).n, 4, "a failed check is retried on the next call");
});

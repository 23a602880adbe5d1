/**
 * SIGTERM in serve is bounded: the running reconcile gets serve.stopGrace to finish, then is abandoned (its abort
 * signal fires) and given a short time to release the lease. Driven with a manual clock: no real waiting.
 */
import t from "tap";
import { stopWithinGrace } from "../../../src/cli/serve-stop.js";

/** A sleep whose timers fire only when the test says so. */
function manualSleep(): { sleep: (ms: number) => Promise<void>; fire: (ms: number) => void; asked: number[] } {
  const waiting: { ms: number; done: () => void }[] = [];
  const asked: number[] = [];
  return {
    asked,
    sleep: (ms) =>
      new Promise<void>((done) => {
        asked.push(ms);
        waiting.push({ ms, done });
      }),
    fire: (ms) => {
      for (const w of waiting.filter((x) => x.ms === ms)) w.done();
    },
  };
}
const tick = () => new Promise((r) => setImmediate(r));

t.test("a reconcile that finishes within the grace is not abandoned", async (t) => {
  const clock = manualSleep();
  let finish!: () => void;
  let abandoned = false;
  const outcome = stopWithinGrace({ stop: () => new Promise<void>((r) => (finish = r)), abandon: () => (abandoned = true), graceMs: 20_000, sleep: clock.sleep });
  await tick();
  finish();
  t.equal(await outcome, "finished");
  t.notOk(abandoned, "abandon not called");
  t.same(clock.asked, [20_000], "waited on the grace only");
});

t.test("no reconcile running: stops at once", async (t) => {
  const clock = manualSleep();
  t.equal(await stopWithinGrace({ stop: async () => undefined, abandon: () => t.fail("abandoned"), graceMs: 20_000, sleep: clock.sleep }), "finished");
});

t.test("the grace runs out: the rollout is abandoned, and stop returns once it gave the lease back", async (t) => {
  const clock = manualSleep();
  let finish!: () => void;
  const order: string[] = [];
  const outcome = stopWithinGrace({
    stop: () => new Promise<void>((r) => (finish = r)),
    abandon: () => {
      order.push("abandon");
      setImmediate(() => finish()); // the rollout sees its signal and returns
    },
    onGraceElapsed: () => order.push("grace-elapsed"),
    graceMs: 3_000,
    abandonMs: 5_000,
    sleep: clock.sleep,
  });
  await tick();
  clock.fire(3_000);
  t.equal(await outcome, "abandoned");
  t.same(order, ["grace-elapsed", "abandon"], "logged, then abandoned");
  t.same(clock.asked, [3_000, 5_000], "grace, then the bounded wait after abandoning");
});

t.test("a rollout that ignores the abandon signal does not hold the exit forever", async (t) => {
  const clock = manualSleep();
  const outcome = stopWithinGrace({ stop: () => new Promise<void>(() => undefined), abandon: () => undefined, graceMs: 3_000, abandonMs: 5_000, sleep: clock.sleep });
  await tick();
  clock.fire(3_000);
  await tick();
  clock.fire(5_000);
  t.equal(await outcome, "gave-up");
});

t.test("a reconcile that fails while stopping counts as finished (it already logged)", async (t) => {
  const clock = manualSleep();
  t.equal(await stopWithinGrace({ stop: () => Promise.reject(new Error("boom")), abandon: () => t.fail("abandoned"), graceMs: 1_000, sleep: clock.sleep }), "finished");
});

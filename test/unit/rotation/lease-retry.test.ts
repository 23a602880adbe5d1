/**
 * When `serve` tries a reconcile again after another rotator's lease refused it: just after that lease expires,
 * within [minMs, TTL]. This bounds the failover time after a CA task dies holding the lease.
 */
import t from "tap";
import { leaseRetryDelayMs } from "../../../src/rotation/scheduler.js";

const now = new Date("2026-01-01T00:00:00Z");
const at = (s: number): Date => new Date(now.getTime() + s * 1000);

t.test("a lease expiring later: retried one margin after its expiry", async (t) => {
  t.equal(leaseRetryDelayMs({ heldUntil: at(20), now, ttlMs: 30_000 }), 21_000);
  t.equal(leaseRetryDelayMs({ heldUntil: at(20), now, ttlMs: 30_000, marginMs: 2000 }), 22_000);
});

t.test("a lease already expired (a race with its holder's release or our clock): retried after the minimum", async (t) => {
  t.equal(leaseRetryDelayMs({ heldUntil: at(-5), now, ttlMs: 30_000 }), 1000);
  t.equal(leaseRetryDelayMs({ heldUntil: at(-5), now, ttlMs: 30_000, minMs: 250 }), 250);
});

t.test("an expiry far away (hand-edited, or a skewed clock) is re-read after one TTL, not waited for", async (t) => {
  t.equal(leaseRetryDelayMs({ heldUntil: new Date("2099-01-01T00:00:00Z"), now, ttlMs: 30_000 }), 30_000);
});

t.test("an unknown expiry (the lease was gone when read, or unreadable): retried after the minimum", async (t) => {
  t.equal(leaseRetryDelayMs({ heldUntil: null, now, ttlMs: 30_000 }), 1000);
  t.equal(leaseRetryDelayMs({ heldUntil: new Date("nonsense"), now, ttlMs: 30_000 }), 1000);
});

t.test("a TTL below the minimum never yields less than the minimum", async (t) => {
  t.equal(leaseRetryDelayMs({ heldUntil: at(60), now, ttlMs: 100 }), 1000);
});

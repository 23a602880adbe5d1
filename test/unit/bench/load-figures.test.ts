import t from "tap";
import { inFlightAtStart, maxOverlap, parseServeLogLine, promValue, rolloutSpans, vmRssBytes, type ServeLogLine } from "../../../scripts/bench/load-figures.js";

const line = (time: number, msg: string, fields: Partial<ServeLogLine> = {}): ServeLogLine => ({ time, level: 30, msg, ...fields });
const issued = (time: number, service: string) => line(time, "certificate issued", { component: "rollout", service });
const rotated = (time: number, service: string) => line(time, "certificate rotated", { component: "audit", service, result: "rotated", trigger: "api:token" });

t.test("serve's JSON log lines parse; anything else is not a log line", async (t) => {
  const l = parseServeLogLine('{"level":30,"time":1700000000000,"component":"audit","service":"a","msg":"certificate rotated"}');
  t.equal(l?.time, 1700000000000);
  t.equal(l?.service, "a");
  t.equal(parseServeLogLine("plain text"), null);
  t.equal(parseServeLogLine("{not json"), null);
  t.equal(parseServeLogLine('{"msg":"no time"}'), null);
});

t.test("a rollout spans from its 'certificate issued' line to its audit line, within the cycle only", async (t) => {
  const lines = [issued(5, "old"), rotated(8, "old"), issued(10, "a"), issued(11, "b"), line(12, "reconcile done", { component: "serve" }), rotated(20, "a"),
    line(21, "rotation failed", { component: "audit", service: "b", result: "failed", error: "rolled back: boom" }), line(22, "rotation failed", { component: "audit", service: "c", result: "failed" }), rotated(40, "late")];
  const spans = rolloutSpans(lines, 10, 30);
  t.same(spans, [
    { service: "a", issuedAt: 10, doneAt: 20, result: "rotated" },
    { service: "b", issuedAt: 11, doneAt: 21, result: "failed", error: "rolled back: boom" },
    { service: "c", doneAt: 22, result: "failed" },
  ]);
});

t.test("audit records (audit: true) end rollouts too: ok rotate = rotated, ok reattach = reattached, else failed", async (t) => {
  const audit = (time: number, service: string, event: string, result: string, error?: string) =>
    line(time, `audit: ${event} ${result}`, { component: "audit", audit: true, event, service, result, ...(error ? { error } : {}) });
  const lines = [issued(1, "a"), issued(2, "b"), audit(5, "a", "rotate", "ok"), audit(6, "b", "rotate", "failed", "rolled back: x"), audit(7, "c", "reattach", "ok"), audit(8, "d", "sign", "ok")];
  t.same(rolloutSpans(lines, 0, 10), [
    { service: "a", issuedAt: 1, doneAt: 5, result: "rotated" },
    { service: "b", issuedAt: 2, doneAt: 6, result: "failed", error: "rolled back: x" },
    { service: "c", doneAt: 7, result: "reattached" },
  ]);
});

t.test("the most intervals open at once; one ending as another starts is not an overlap", async (t) => {
  t.equal(maxOverlap([]), 0);
  t.equal(maxOverlap([{ from: 0, to: 10 }, { from: 10, to: 20 }, { from: 20, to: 30 }]), 1);
  t.equal(maxOverlap([{ from: 0, to: 10 }, { from: 1, to: 5 }, { from: 2, to: 3 }, { from: 4, to: 12 }]), 3);
  t.equal(maxOverlap([{ from: 0, to: 10 }, { from: 0, to: 10 }]), 2);
});

t.test("in flight at each rollout's start counts the rollouts open then, its own included", async (t) => {
  const spans = rolloutSpans([issued(0, "a"), issued(1, "b"), rotated(5, "a"), issued(5, "c"), rotated(6, "b"), rotated(9, "c")], 0, 10);
  t.same([...inFlightAtStart(spans)], [["a", 1], ["b", 2], ["c", 2]]);
});

t.test("VmRSS is read from /proc/<pid>/status in bytes", async (t) => {
  t.equal(vmRssBytes("Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   81234 kB\nRssAnon:\t 1 kB\n"), 81234 * 1024);
  t.equal(vmRssBytes("Name:\tnode\nState:\tZ (zombie)\n"), undefined);
});

t.test("one sample of a Prometheus exposition, by name and exact labels", async (t) => {
  const text = [
    "# HELP swarm_mtls_rotations_total x",
    'swarm_mtls_rotations_total{result="rotated"} 150',
    'swarm_mtls_rotations_total{result="failed"} 2',
    'swarm_mtls_rotation_duration_seconds_bucket{le="5",result="rotated"} 7',
    "swarm_mtls_nodejs_heap_size_used_bytes 31457280",
  ].join("\n");
  t.equal(promValue(text, "swarm_mtls_nodejs_heap_size_used_bytes"), 31457280);
  t.equal(promValue(text, "swarm_mtls_rotations_total", { result: "failed" }), 2);
  t.equal(promValue(text, "swarm_mtls_rotation_duration_seconds_bucket", { result: "rotated", le: "5" }), 7);
  t.equal(promValue(text, "swarm_mtls_rotations_total"), undefined, "a labelled series is not the bare sample");
  t.equal(promValue(text, "nope"), undefined);
});

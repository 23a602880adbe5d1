/**
 * The shipped alert rules, checked and unit-tested by promtool (Debian's `prometheus` package; scripts/test.sh
 * installs it), and every series they name is one that serve exports.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { createMetrics } from "../../../src/api/metrics.js";
import { REPO } from "../../helpers/cli.js";

const RULES = join(REPO, "config/prometheus/alerts.yml");
const RULE_TESTS = join(REPO, "config/prometheus/alerts.test.yml");

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync("promtool", args, { encoding: "utf8", timeout: 300_000 });
  if (r.error) throw new Error(`promtool could not run (${r.error.message}): install Debian's prometheus package (scripts/test.sh does)`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

t.test("promtool check rules accepts alerts.yml", async (t) => {
  const r = promtool(["check", "rules", RULES]);
  t.equal(r.status, 0, r.out);
  t.match(r.out, /SUCCESS: \d+ rules found/);
});

t.test("promtool test rules: every alert fires when it should and not before (alerts.test.yml)", async (t) => {
  const r = promtool(["test", "rules", RULE_TESTS]);
  t.equal(r.status, 0, r.out);
  t.match(r.out, "SUCCESS");
});

t.test("every swarm_mtls_ series the rules and their tests name is exported by serve", async (t) => {
  const m = createMetrics({ processMetrics: false });
  m.setCertificate("x", { notAfter: new Date(), renewAt: new Date(), ready: "True" });
  const exported = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
  for (const file of [RULES, RULE_TESTS]) {
    const named = new Set(readFileSync(file, "utf8").match(/\bswarm_mtls_[a-z_]+/g) ?? []);
    t.ok(named.size > 0, `${file} names series`);
    for (const name of named) t.ok(exported.has(name), `${name} (in ${file.slice(REPO.length + 1)}) is exported`);
  }
});

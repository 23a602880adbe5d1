import t from "tap";
import { DURATION_PATTERN, formatDuration, parseDuration } from "../../../src/config/duration.js";
import { MIN_LEAF_TTL_SECONDS, parseLeafTtl } from "../../../src/config/leaf-ttl.js";
import { expectMtlsError } from "../../helpers/expect-error.js";

t.test("operator durations parse to seconds", async (t) => {
  const cases: [string, number][] = [
    ["90s", 90], ["30m", 1800], ["24h", 86400], ["7d", 604800], ["1w", 604800], ["1y", 31536000], ["1h30m", 5400], [" 2H ", 7200],
  ];
  for (const [text, seconds] of cases) t.equal(parseDuration(text), seconds, text);
});

t.test("bad durations are refused with the value and the field named", async (t) => {
  for (const bad of ["", "24", "h", "-1h", "1.5h", "0s", "24 h", "1x", "9999999999d", "1h\n2m"]) {
    expectMtlsError(t, () => parseDuration(bad, "mtls.ttl"), "bad-input", /^mtls\.ttl: /, JSON.stringify(bad));
  }
  expectMtlsError(t, () => parseDuration("1h\u0007", "x"), "bad-input", /\\x07/, "control characters are shown escaped");
});

t.test("durations format back the way operators write them", async (t) => {
  t.equal(formatDuration(0), "0s");
  t.equal(formatDuration(90), "1m30s");
  t.equal(formatDuration(86400), "1d");
  t.equal(formatDuration(93784), "1d2h");
  t.equal(formatDuration(-3600), "-1h");
  for (const s of [1, 59, 3600, 5400, 604800]) t.equal(parseDuration(formatDuration(s)), s, `roundtrip ${s}`);
});

t.test("leaf lifetimes: the one grammar and the one 5-minute minimum", async (t) => {
  t.equal(MIN_LEAF_TTL_SECONDS, 300);
  t.equal(parseLeafTtl("5m", "leaf.ttl"), 300);
  t.equal(parseLeafTtl("1h30m", "leaf.ttl"), 5400);
  expectMtlsError(t, () => parseLeafTtl("4m59s", "mtls.ttl"), "bad-input", /^mtls\.ttl: '4m59s' is shorter than the minimum of 5m$/);
  expectMtlsError(t, () => parseLeafTtl("1h3", "mtls.ttl"), "bad-input", /^mtls\.ttl: '1h3' is not a duration/);
});

t.test("the grammar's pattern (also the HTTP API's schema for ttl) agrees with the parser", async (t) => {
  const re = new RegExp(DURATION_PATTERN);
  for (const ok of ["90s", "1h30m", "7d", "1w", "1y", "2d12h"]) t.ok(re.test(ok), ok);
  for (const bad of ["", "24", "1.5h", "-1h", "1x", "24 h"]) t.notOk(re.test(bad), JSON.stringify(bad));
});

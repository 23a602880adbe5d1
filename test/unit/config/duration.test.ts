import t from "tap";
import { formatDuration, parseDuration } from "../../../src/config/duration.js";
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

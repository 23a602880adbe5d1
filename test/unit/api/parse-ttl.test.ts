import t from "tap";
import { parseTtl } from "../../../src/api/parse-ttl.js";
import { parseDuration } from "../../../src/config/duration.js";

t.test("durations in the one grammar of config and labels, and seconds", async (t) => {
  t.equal(parseTtl("90m"), 5400);
  t.equal(parseTtl("24h"), 86400);
  t.equal(parseTtl("7d"), 604800);
  t.equal(parseTtl("3600s"), 3600);
  t.equal(parseTtl("1h30m"), 5400, "what config/duration.ts and the README accept");
  t.equal(parseTtl("1w"), 604800);
  t.equal(parseTtl(300), 300);
  for (const text of ["90m", "1h30m", "2d12h", "1w", "45m"]) t.equal(parseTtl(text), parseDuration(text), `${text}: the same number as the config parser`);
});

t.test("bad values are bad-input naming the field", async (t) => {
  for (const v of ["", "0h", "-1h", "1.5h", "h", "1x", 0, -5, 1.5, Number.NaN]) {
    t.throws(() => parseTtl(v, "body.ttl"), { code: "bad-input", message: /^body\.ttl(:| must)/ }, String(v));
  }
  t.throws(() => parseTtl("400d"), { code: "bad-input", message: "ttl must be at most 366d" });
  t.throws(() => parseTtl("2y"), { code: "bad-input", message: "ttl must be at most 366d" });
});

t.test("the one minimum: 5 minutes, whether given as a duration or as seconds", async (t) => {
  t.throws(() => parseTtl("1s", "body.ttl"), { code: "bad-input", message: "body.ttl: '1s' is shorter than the minimum of 5m" });
  t.throws(() => parseTtl("4m59s", "body.ttl"), { code: "bad-input", message: "body.ttl: '4m59s' is shorter than the minimum of 5m" });
  t.throws(() => parseTtl(120, "body.ttl"), { code: "bad-input", message: "body.ttl: '120s' is shorter than the minimum of 5m" });
  t.equal(parseTtl("5m"), 300);
});

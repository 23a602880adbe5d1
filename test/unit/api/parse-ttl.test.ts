import t from "tap";
import { parseTtl } from "../../../src/api/parse-ttl.js";

t.test("durations and seconds", async (t) => {
  t.equal(parseTtl("90m"), 5400);
  t.equal(parseTtl("24h"), 86400);
  t.equal(parseTtl("7d"), 604800);
  t.equal(parseTtl("3600s"), 3600);
  t.equal(parseTtl(120), 120);
});

t.test("bad values are bad-input naming the field", async (t) => {
  for (const v of ["", "1y", "0h", "-1h", "1.5h", "h", 0, -5, 1.5, Number.NaN]) {
    t.throws(() => parseTtl(v, "body.ttl"), { code: "bad-input", message: /^body\.ttl must/ }, String(v));
  }
  t.throws(() => parseTtl("400d"), { code: "bad-input", message: "ttl must be at most 366d" });
});

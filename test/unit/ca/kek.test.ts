import t from "tap";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { generateKekText, parseKek } from "../../../src/ca/index.js";

t.test("a KEK made by openssl rand -base64 32 is accepted", async (t) => {
  const text = execFileSync("openssl", ["rand", "-base64", "32"]).toString();
  const kek = parseKek(text);
  t.equal(kek.length, 32);
  t.same(Buffer.from(kek), Buffer.from(text.trim(), "base64"));
  t.same(parseKek(Buffer.from(`  ${text.trim()}\r\n\n`)), kek, "whitespace around it is ignored; Buffers work");
});

t.test("generateKekText makes a fresh, parseable KEK file", async (t) => {
  const a = generateKekText();
  t.match(a, /^[A-Za-z0-9+/]{43}=\n$/);
  t.equal(parseKek(a).length, 32);
  t.not(a, generateKekText(), "random each time");
});

t.test("malformed KEKs are refused with code kek, without echoing the content", async (t) => {
  const secretish = randomBytes(16).toString("base64");
  const cases: [string | Buffer, RegExp][] = [
    ["", /is empty/],
    ["   \n", /is empty/],
    [secretish, /exactly 32 bytes \(got 16\)/],
    [randomBytes(48).toString("base64"), /exactly 32 bytes \(got 48\)/],
    [randomBytes(32).toString("hex"), /exactly 32 bytes \(got 48\)|not base64/],
    ["not base64 at all!", /not base64/],
    [randomBytes(32).toString("base64url").replace(/=+$/, ""), /not base64/],
    [randomBytes(32), /not base64|exactly 32/],
  ];
  for (const [input, reason] of cases) {
    const err = t.throws(() => parseKek(input), { name: "MtlsError", code: "kek", message: reason }) as Error;
    if (typeof input === "string" && input.trim() !== "") t.notMatch(err.message, input.trim(), "content not echoed");
    t.match(err.message, /openssl rand -base64 32/, "tells how to make one");
  }
});

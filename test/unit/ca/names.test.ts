import t, { type Test } from "tap";
import {
  parseKeyAlgorithm,
  spiffeIdFor,
  validateDnsName,
  validateIdentity,
  validateTrustDomain,
  validateUri,
} from "../../../src/ca/index.js";

function table(t: Test, fn: (s: string) => string, good: [string, string][], bad: [string, RegExp][]): void {
  for (const [input, expected] of good) t.equal(fn(input), expected, `accepts ${JSON.stringify(input)}`);
  for (const [input, reason] of bad) {
    t.throws(() => fn(input), { name: "MtlsError", code: "bad-input", message: reason }, `refuses ${JSON.stringify(input).slice(0, 40)}`);
  }
}

t.test("identities", async (t) => {
  table(
    t,
    validateIdentity,
    [["api", "api"], ["shop_api", "shop_api"], ["web-1.v2", "web-1.v2"], ["0day", "0day"], ["a".repeat(63), "a".repeat(63)]],
    [
      ["", /must not be empty/],
      ["Api", /identity 'Api' must be lower-case \(try 'api'\)/],
      ["-api", /must start with a letter or a digit/],
      ["_api", /must start with a letter or a digit/],
      ["a b", /may only contain/],
      ["a/b", /may only contain/],
      ["a".repeat(64), /is 64 characters long \(at most 63\)/],
      ["api\n", /identity 'api\\x0a' may only contain/],
    ],
  );
});

t.test("DNS names", async (t) => {
  table(
    t,
    validateDnsName,
    [
      ["api", "api"],
      ["tasks.shop_api".replace("_", "-"), "tasks.shop-api"],
      ["API.Example.ORG", "api.example.org"],
      ["a-b.c-d.example", "a-b.c-d.example"],
      ["123.example", "123.example"],
      [`${"a".repeat(63)}.example`, `${"a".repeat(63)}.example`],
    ],
    [
      ["", /must not be empty/],
      ["*.example.org", /wildcards are not allowed/],
      ["a,b", /contains a comma/],
      ["api example", /contains whitespace/],
      ["api\u0000", /contains control characters/],
      ["api\r\nx", /contains control characters/],
      ["foo_bar", /contains '_'/],
      ["10.0.0.1", /is an IP address/],
      ["::1", /is an IP address/],
      ["[::1]", /is an IP address/],
      ["1.2.3.999", /looks like an IP address/],
      [`${"a".repeat(60)}.`.repeat(5).slice(0, 300), /is 300 characters long \(at most 253\)/],
      [`${"a".repeat(64)}.example`, /label longer than 63/],
      ["api.", /must not end with a dot/],
      ["a..b", /empty label/],
      ["-api", /label '-api'/],
      ["api-", /label 'api-'/],
      ["bücher.de", /label 'bücher'/],
    ],
  );
});

t.test("trust domains", async (t) => {
  table(
    t,
    validateTrustDomain,
    [["example.org", "example.org"], ["prod_swarm-1", "prod_swarm-1"], ["cluster.local", "cluster.local"]],
    [
      ["", /must not be empty/],
      ["Example.org", /must be lower-case \(try 'example.org'\)/],
      ["spiffe://example.org", /without 'spiffe:\/\/'/],
      ["example.org/x", /may only contain/],
      ["exa mple", /may only contain/],
      ["e".repeat(256), /at most 255/],
    ],
  );
});

t.test("key algorithms", async (t) => {
  table(
    t,
    (s) => parseKeyAlgorithm(s),
    [["ecdsa-p256", "ecdsa-p256"], ["ECDSA-P384", "ecdsa-p384"], [" ed25519 ", "ed25519"], ["rsa-2048", "rsa-2048"], ["rsa-3072", "rsa-3072"]],
    [
      ["rsa", /unknown key algorithm 'rsa' \(expected one of ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072\)/],
      ["rsa-4096", /unknown key algorithm 'rsa-4096'/],
      ["", /unknown key algorithm ''/],
    ],
  );
});

t.test("SPIFFE IDs", async (t) => {
  t.equal(spiffeIdFor({ trustDomain: "example.org", stack: "shop", service: "shop_api", identity: "shop_api" }), "spiffe://example.org/swarm/shop/api");
  t.equal(spiffeIdFor({ trustDomain: "example.org", stack: "shop", identity: "shop_web" }), "spiffe://example.org/swarm/shop/web", "service defaults to the identity");
  t.equal(spiffeIdFor({ trustDomain: "example.org", stack: "shop", service: "other", identity: "x" }), "spiffe://example.org/swarm/shop/other");
  t.equal(spiffeIdFor({ trustDomain: "example.org", identity: "backup" }), "spiffe://example.org/id/backup", "no stack: /id/<identity>");
  t.throws(() => spiffeIdFor({ trustDomain: "Example.org", identity: "x" }), { code: "bad-input", message: /lower-case/ });
  t.throws(() => spiffeIdFor({ trustDomain: "example.org", stack: "a/b", identity: "x" }), { code: "bad-input", message: /stack 'a\/b'/ });
  t.equal(validateUri("spiffe://example.org/swarm/shop/api"), "spiffe://example.org/swarm/shop/api");
  t.equal(validateUri("https://api.example.org/x"), "https://api.example.org/x");
  for (const bad of ["spiffe://example.org", "spiffe://example.org/a//b", "spiffe://example.org/../x", "no-scheme", "https://a b", "https://a,b"]) {
    t.throws(() => validateUri(bad), { code: "bad-input" }, `refuses URI ${bad}`);
  }
});

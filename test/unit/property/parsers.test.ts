// Property-based tests: for ANY input, the operator-facing parsers either return a well-formed value or refuse with
// a one-line bad-input error. Nothing else (no crash, no half-valid value, no injected SAN).
import fc from "fast-check";
import t from "tap";
import { validateDnsName } from "../../../src/ca/index.js";
import { formatDuration, parseDuration } from "../../../src/config/duration.js";
import { isMtlsError } from "../../../src/errors.js";
import { readServiceIdentity } from "../../../src/rotation/service-identity.js";

const RUNS = 2000;

/** Runs f; returns "ok" or "bad-input", and fails the property for any other kind of exception. */
function outcome<T>(f: () => T): { kind: "ok"; value: T } | { kind: "bad-input"; message: string } {
  try {
    return { kind: "ok", value: f() };
  } catch (e) {
    if (isMtlsError(e, "bad-input")) return { kind: "bad-input", message: e.message };
    throw e;
  }
}

const oneLine = (m: string): boolean => !/[\n\r]/.test(m) && m.length < 400;

t.test("durations: any text parses to whole positive seconds or is refused on one line", async (t) => {
  const text = fc.oneof(fc.string(), fc.stringMatching(/^(\d{1,4}[smhdwy]){1,3}$/), fc.string({ unit: "grapheme", maxLength: 12 }));
  fc.assert(
    fc.property(text, (s) => {
      const r = outcome(() => parseDuration(s, "mtls.ttl"));
      if (r.kind === "ok") return Number.isSafeInteger(r.value) && r.value > 0;
      return r.message.startsWith("mtls.ttl: ") && oneLine(r.message);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} generated durations`);
});

t.test("durations: what formatDuration prints parses back to the same seconds (two largest units)", async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10 * 365 * 86400 }), (s) => {
      const back = parseDuration(formatDuration(s));
      return back <= s && back > 0 && (formatDuration(s).match(/[a-z]/g)?.length ?? 0) <= 2;
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} generated lifetimes`);
});

const prefix = "mtls.";
const labelValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom("true", "24h", "7d", "0400", "0444", "101", "ed25519", "dsa", "*.evil.com", "a,b", "a\nb", "x".repeat(300), "tls.crt", "../etc/passwd", "api"),
);
const labelName = fc.constantFrom("enable", "identity", "dns", "ttl", "key-alg", "target.cert", "target.key", "target.ca", "uid", "gid", "mode", "allow", "tll", "dnss");
const labels = fc.dictionary(labelName.map((n) => prefix + n), labelValue, { maxKeys: 8 });
const serviceName = fc.oneof(fc.constantFrom("api", "shop_api", "web-1", "A", "db.main"), fc.stringMatching(/^[a-z][a-z0-9_.-]{0,30}$/));
const stack = fc.option(fc.constantFrom("shop", "prod", "x_y"), { nil: undefined });

t.test("labels: any label set gives a clean identity or names the bad label; SANs are never injected", async (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(labels, serviceName, stack, (l, name, st) => {
      const all: Record<string, string> = { ...l, [`${prefix}enable`]: "true" };
      if (st) all["com.docker.stack.namespace"] = st;
      const svcName = st ? `${st}_${name}` : name;
      const r = outcome(() =>
        readServiceIdentity({ id: "x", name: svcName, labels: all }, { prefix, trustDomain: "example.org", ttlSeconds: 86400, maxTtlSeconds: 7 * 86400, keyAlgorithm: "ecdsa-p256" }),
      );
      if (r.kind === "bad-input") return /^(unknown )?labels? /.test(r.message) && oneLine(r.message);
      accepted++;
      const id = r.value;
      for (const n of id.dnsNames) {
        if (validateDnsName(n) !== n || /[,*\s]/.test(n)) return false;
      }
      return (
        id.ttlSeconds >= 300 &&
        id.ttlSeconds <= 7 * 86400 &&
        (id.keyFile.mode & 0o007) === 0 &&
        id.spiffeId.startsWith("spiffe://example.org/") &&
        !/[\s,]/.test(id.spiffeId) &&
        new Set(Object.values(id.targets)).size === 3
      );
    }),
    { numRuns: RUNS },
  );
  t.ok(accepted > 0, `some generated label sets were accepted (${accepted})`);
});

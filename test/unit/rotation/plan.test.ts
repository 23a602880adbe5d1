import t from "tap";
import { generationsToPrune, planService, type GenerationInfo, type PlanInput, type PlanParams } from "../../../src/rotation/plan.js";
import { renewalTime } from "../../../src/rotation/renewal-time.js";

const H = 3600_000;
const T0 = new Date("2026-11-29T00:00:00Z");
const at = (hours: number): Date => new Date(T0.getTime() + hours * H);

const gen = (generation: number, o: Partial<GenerationInfo> = {}): GenerationInfo => ({
  generation,
  serial: `serial-${generation}`,
  fingerprint: `fp-${generation}`,
  notBefore: at(0),
  notAfter: at(24),
  issuer: "ica-1",
  profile: "p1",
  complete: true,
  ...o,
});

const input = (o: Partial<PlanInput> = {}): PlanInput => ({
  profile: "p1",
  attached: 1,
  bundleCurrent: true,
  refsExact: true,
  envoyCurrent: true,
  generations: [gen(1)],
  ...o,
});

const params = (o: Partial<PlanParams> = {}): PlanParams => ({ now: at(1), force: false, issuer: "ica-1", renewBefore: 1 / 3, jitter: 0, ...o });

t.test("the verdict for each situation, with its reason", async (t) => {
  const cases: [string, PlanInput, PlanParams, string, string, number?][] = [
    ["fresh certificate", input(), params(), "none", "up-to-date"],
    ["forced", input(), params({ force: true }), "issue", "forced"],
    ["nothing issued yet", input({ attached: null, generations: [] }), params(), "issue", "no-certificate"],
    ["expired", input(), params({ now: at(25) }), "issue", "expired"],
    ["in the last third", input(), params({ now: at(17) }), "issue", "due"],
    ["just before the last third", input(), params({ now: at(15.9) }), "none", "up-to-date"],
    ["labels changed", input({ profile: "p2" }), params(), "issue", "settings-changed"],
    ["CA rotated", input(), params({ issuer: "ica-2" }), "issue", "issuer-changed"],
    ["CA rotated, SDS bootstrap from a lasting issuer", input({ sds: true }), params({ issuer: "ica-2", lastingIssuers: new Set(["ica-1"]) }), "none", "up-to-date"],
    ["CA rotated, SDS bootstrap from a lasting issuer, due", input({ sds: true }), params({ now: at(17), issuer: "ica-2", lastingIssuers: new Set(["ica-1"]) }), "issue", "due"],
    ["CA rotated, SDS bootstrap, issuer not lasting", input({ sds: true }), params({ issuer: "ica-2", lastingIssuers: new Set(["ica-0"]) }), "issue", "issuer-changed"],
    ["CA rotated, lasting issuer but not SDS", input(), params({ issuer: "ica-2", lastingIssuers: new Set(["ica-1"]) }), "issue", "issuer-changed"],
    ["stack redeploy dropped the refs", input({ attached: null }), params(), "attach", "reattach", 1],
    ["dropped refs but the cert is due", input({ attached: null }), params({ now: at(20) }), "issue", "no-certificate"],
    ["dropped refs and labels changed", input({ attached: null, profile: "p2" }), params(), "issue", "no-certificate"],
    ["interrupted rotation left gen 2", input({ generations: [gen(1), gen(2)] }), params(), "attach", "resume", 2],
    ["interrupted rotation, gen 1 due", input({ generations: [gen(1), gen(2, { notBefore: at(17), notAfter: at(41) })] }), params({ now: at(18) }), "attach", "resume", 2],
    ["half-written gen 2 (no key)", input({ generations: [gen(1), gen(2, { complete: false })] }), params(), "none", "up-to-date"],
    ["bundle changed", input({ bundleCurrent: false }), params(), "attach", "bundle-changed", 1],
    ["targets changed", input({ refsExact: false }), params(), "attach", "references-changed", 1],
    ["envoy changed", input({ envoyCurrent: false }), params(), "attach", "envoy-changed", 1],
    ["attached gen is missing its key", input({ generations: [gen(1, { complete: true })], attached: 7 }), params(), "attach", "reattach", 1],
  ];
  for (const [name, i, p, action, reason, generation] of cases) {
    const v = planService(i, p);
    t.equal(v.action, action, `${name}: action`);
    t.equal(v.reason, reason, `${name}: reason`);
    if (generation !== undefined && v.action === "attach") t.equal(v.generation, generation, `${name}: generation`);
    t.ok(v.detail.length > 0, `${name}: a detail for people`);
  }
});

t.test("up-to-date verdict tells when the renewal comes", async (t) => {
  const v = planService(input(), params());
  t.equal(v.action, "none");
  if (v.action === "none") t.equal(v.nextRenewal.toISOString(), at(16).toISOString());
});

t.test("renewal time: deterministic, never later than the fixed point, spread by the jitter", async (t) => {
  const p = { notBefore: at(0), notAfter: at(24), renewBefore: 1 / 3, jitter: 0.1 };
  const times = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const r = renewalTime({ ...p, seed: `s${i}` });
    t.equal(r.getTime(), renewalTime({ ...p, seed: `s${i}` }).getTime(), "same seed, same time");
    if (r > at(16) || r < at(16 - 2.4)) t.fail(`out of the window: ${r.toISOString()}`);
    times.add(Math.floor(r.getTime() / (10 * 60_000)));
  }
  t.ok(times.size > 10, `200 certificates issued together spread over ${times.size} ten-minute slots`);
  t.equal(renewalTime({ ...p, jitter: 0, seed: "x" }).toISOString(), at(16).toISOString());
});

t.test("pruning keeps the attached generation, one previous, and anything referenced", async (t) => {
  t.same(generationsToPrune({ generations: [1, 2, 3, 4], attached: 4, keepPrevious: 1, referenced: new Set() }), [1, 2]);
  t.same(generationsToPrune({ generations: [1, 2, 3, 4], attached: 4, keepPrevious: 0, referenced: new Set([2]) }), [1, 3]);
  t.same(generationsToPrune({ generations: [3, 4, 5], attached: 4, keepPrevious: 1, referenced: new Set() }), [5], "a leftover newer generation goes");
  t.same(generationsToPrune({ generations: [1], attached: 1, keepPrevious: 1, referenced: new Set() }), []);
});

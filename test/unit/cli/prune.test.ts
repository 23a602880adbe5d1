/**
 * `swarm-mtls prune`: the pure plan (what goes, what stays and why), the removal against an in-memory swarm whose
 * engine refuses to remove what a service uses (as Docker does), the exit codes, and the bad input the CLI refuses
 * before it looks at any swarm. The real engine is exercised by test/e2e/deploy.test.ts (step 5).
 */
import t from "tap";
import { planPrune, prune, pruneExitCode, readPruneScope, type PrunePlanInput, type PruneScope } from "../../../src/rotation/prune.js";
import { dockerError } from "../../../src/swarm/docker-error.js";
import { LABEL, managedLabels } from "../../../src/swarm/managed-labels.js";
import type { ConfigRecord, SecretRecord, ServiceRecord, Swarm } from "../../../src/swarm/swarm.js";
import { showPrune } from "../../../src/cli/prune.js";
import { runCli } from "../../helpers/cli.js";
import { engineFailure } from "../../fixtures/swarm/memory-swarm.js";

const CA = "mtls.ca-state";
const secret = (name: string, kind: "crt" | "key" | "bundle", extra: Record<string, string | number> = {}): SecretRecord => ({ id: `id-${name}`, name, labels: managedLabels(kind, extra), version: 1 });
const gen = (identity: string, g: number): SecretRecord[] => [
  secret(`mtls.${identity}.crt.v${g}`, "crt", { [LABEL.identity]: identity, [LABEL.generation]: g }),
  secret(`mtls.${identity}.key.v${g}`, "key", { [LABEL.identity]: identity, [LABEL.generation]: g }),
];
const bundle = (g: number, ca: string = CA): SecretRecord => secret(`mtls.bundle.v${g}`, "bundle", { [LABEL.generation]: g, [LABEL.ca]: ca });
const envoy = (identity: string, g: number): ConfigRecord => ({ id: `id-mtls.${identity}.envoy.v${g}`, name: `mtls.${identity}.envoy.v${g}`, labels: managedLabels("envoy", { [LABEL.identity]: identity, [LABEL.generation]: g }), version: 1, data: Buffer.from("") });
const service = (name: string, p: { secrets?: SecretRecord[]; configs?: ConfigRecord[]; labels?: Record<string, string> } = {}): ServiceRecord => ({
  id: `svc-${name}`, name, version: 1, labels: p.labels ?? {}, spec: {}, mode: "replicated",
  secretRefs: (p.secrets ?? []).map((s) => ({ SecretID: s.id, SecretName: s.name })),
  configRefs: (p.configs ?? []).map((c) => ({ ConfigID: c.id, ConfigName: c.name })),
});
const scope = (s: Partial<PruneScope>): PruneScope => ({ stacks: [], identities: [], all: false, ...s });
const plan = (p: Partial<PrunePlanInput>) => planPrune({ scope: scope({}), services: [], secrets: [], configs: [], caName: CA, labelPrefix: "mtls.", keepBundle: false, ...p });

t.test("plan: a removed stack's identities go entirely; another stack's running identity stays", async (t) => {
  const shopApi = [...gen("shop_api", 3), ...gen("shop_api", 4)];
  const other = gen("blog_web", 1);
  const b = bundle(2);
  const p = plan({
    scope: scope({ stacks: ["shop"] }),
    secrets: [...shopApi, ...gen("shop_db", 1), ...other, b, secret("mtls.ca-state-like", "crt")],
    configs: [envoy("shop_api", 1)],
    services: [service("blog_web", { secrets: [...other, b] })],
  });
  t.same(p.identities, [{ identity: "shop_api", usedBy: [] }, { identity: "shop_db", usedBy: [] }], "the stack's two identities, both orphans");
  const removed = p.items.filter((i) => i.action === "remove").map((i) => i.name);
  t.same(removed, ["mtls.shop_api.envoy.v1", "mtls.shop_api.crt.v3", "mtls.shop_api.crt.v4", "mtls.shop_api.key.v3", "mtls.shop_api.key.v4", "mtls.shop_db.crt.v1", "mtls.shop_db.key.v1"], "every generation, key and Envoy config of them");
  t.notOk(p.items.some((i) => i.identity === "blog_web"), "another stack's identity is out of scope");
  const kept = p.items.find((i) => i.kind === "bundle");
  t.match(kept, { action: "keep", why: "in use by service blog_web" }, "the bundle another service mounts stays");
});

t.test("plan: an identity a service still mounts, or an opted-in service claims, stays as a whole", async (t) => {
  const api = [...gen("shop_api", 1), ...gen("shop_api", 2)];
  const p = plan({
    scope: scope({ stacks: ["shop"] }),
    secrets: [...api, ...gen("shop_worker", 1)],
    services: [
      service("shop_api", { secrets: [api[2] as SecretRecord, api[3] as SecretRecord] }),
      // redeployed by `docker stack deploy`: no references yet, but opted in; serve re-attaches it
      service("shop_worker", { labels: { "mtls.enable": "true" } }),
    ],
  });
  t.same(p.identities, [{ identity: "shop_api", usedBy: ["shop_api"] }, { identity: "shop_worker", usedBy: ["shop_worker"] }]);
  t.ok(p.items.every((i) => i.action === "keep"), "nothing is removed");
  t.equal(p.items.find((i) => i.name === "mtls.shop_api.crt.v1")?.why, "identity in use by service shop_api", "a superseded generation stays with its identity (rotation prunes it)");
  t.equal(p.items.find((i) => i.name === "mtls.shop_api.crt.v2")?.why, "in use by service shop_api", "the mounted one names its service");
  const other = plan({ scope: scope({ stacks: ["shop"] }), secrets: gen("shop_worker", 1), services: [service("shop_worker", { labels: { "other.enable": "true" } })], labelPrefix: "mtls." });
  t.equal(other.items[0]?.action, "remove", "a service opted in under another prefix does not claim it");
  const custom = plan({ scope: scope({ identities: ["payments"] }), secrets: gen("payments", 1), services: [service("pay_v2", { labels: { "mtls.enable": "true", "mtls.identity": "payments" } })] });
  t.equal(custom.items[0]?.why, "identity in use by service pay_v2", "mtls.identity names the identity a service claims");
});

t.test("plan: bundles of this CA go only when no service uses any; --keep-bundle keeps them; other CAs' are never touched", async (t) => {
  const bundles = [bundle(1), bundle(2), bundle(3, "mtls.other-ca.ca-state")];
  const none = plan({ scope: scope({ stacks: ["shop"] }), secrets: [...gen("shop_api", 1), ...bundles] });
  t.same(none.items.filter((i) => i.kind === "bundle").map((i) => [i.name, i.action]), [["mtls.bundle.v1", "remove"], ["mtls.bundle.v2", "remove"]], "no consumer left: this CA's bundles go, the other CA's are not listed");
  const used = plan({ scope: scope({ stacks: ["shop"] }), secrets: bundles, services: [service("blog_web", { secrets: [bundles[1] as SecretRecord] })] });
  t.same(used.items.map((i) => [i.name, i.action]), [["mtls.bundle.v1", "keep"], ["mtls.bundle.v2", "keep"]], "a consumer left: every bundle stays (rotation prunes old ones)");
  t.match(used.items[0]?.why, /still used by 1 service/);
  const keep = plan({ scope: scope({ stacks: ["shop"] }), secrets: bundles, keepBundle: true });
  t.ok(keep.items.every((i) => i.action === "keep" && i.why === "--keep-bundle"), "--keep-bundle");
  const unlabelled = plan({ scope: scope({ all: true }), secrets: [secret("mtls.bundle.v9", "bundle", { [LABEL.generation]: 9 })] });
  t.equal(unlabelled.items[0]?.action, "remove", "a bundle without the CA label (older releases) counts as this CA's");
});

t.test("plan: CA state, KEK, lease and unmanaged objects are never in a plan", async (t) => {
  const p = plan({
    scope: scope({ all: true }),
    secrets: [
      { id: "k", name: "swarm-mtls-kek", labels: managedLabels("kek") },
      { id: "u", name: "mtls.shop_api.crt.v1", labels: { [LABEL.identity]: "shop_api", [LABEL.generation]: "1" } },
    ],
    configs: [
      { id: "c", name: "mtls.ca-state.v1", labels: managedLabels("ca-state") },
      { id: "l", name: "mtls.lock", labels: managedLabels("lock") },
    ],
  });
  t.same(p.items, [], "nothing");
});

/** The engine as prune sees it: managed secrets and configs, services; removing a referenced object fails as Docker does. */
class PruneSwarm {
  secrets: SecretRecord[] = [];
  configList: ConfigRecord[] = [];
  services: ServiceRecord[] = [];
  removed: string[] = [];
  /** Runs after the listing: a service starts using something, or the engine fails. */
  beforeRemove?: (id: string) => void;
  async listServices() {
    return this.services;
  }
  async listSecrets() {
    return this.secrets;
  }
  async listConfigs() {
    return this.configList;
  }
  async removeSecret(id: string) {
    this.beforeRemove?.(id);
    const user = this.services.find((s) => s.secretRefs.some((r) => r.SecretID === id));
    const name = this.secrets.find((s) => s.id === id)?.name;
    if (user) throw dockerError(`remove secret ${id}`, engineFailure(400, `rpc error: code = InvalidArgument desc = secret '${name}' is in use by the following service: ${user.name}`));
    this.secrets = this.secrets.filter((s) => s.id !== id);
    this.removed.push(name ?? id);
  }
  async removeConfig(id: string) {
    this.beforeRemove?.(id);
    this.removed.push(this.configList.find((c) => c.id === id)?.name ?? id);
    this.configList = this.configList.filter((c) => c.id !== id);
  }
}

const params = (s: Partial<PruneScope>, p: { dryRun?: boolean; keepBundle?: boolean } = {}) => ({ scope: scope(s), caName: CA, labelPrefix: "mtls.", keepBundle: p.keepBundle ?? false, dryRun: p.dryRun ?? false });

t.test("prune: removes the plan's objects and reports each; --dry-run removes nothing; exit 0", async (t) => {
  const swarm = new PruneSwarm();
  swarm.secrets = [...gen("shop_api", 1), bundle(1)];
  swarm.configList = [envoy("shop_api", 1)];
  const dry = await prune(swarm as unknown as Swarm, params({ stacks: ["shop"] }, { dryRun: true }));
  t.same(swarm.removed, [], "--dry-run: nothing removed");
  t.same(dry.objects.map((o) => o.result), ["planned", "planned", "planned", "planned"]);
  const progress: string[] = [];
  const r = await prune(swarm as unknown as Swarm, { ...params({ stacks: ["shop"] }), onProgress: (o, phase) => progress.push(`${phase} ${o.name} ${o.result}`) });
  t.same(swarm.removed, ["mtls.shop_api.envoy.v1", "mtls.shop_api.crt.v1", "mtls.shop_api.key.v1", "mtls.bundle.v1"], "Envoy config, certificate, key, then the bundle");
  t.equal(r.removed, 4);
  t.equal(pruneExitCode(r), 0, "exit 0");
  t.ok(progress.includes("done mtls.shop_api.key.v1 removed"), "progress per object");
  t.match(showPrune(r), /secret mtls\.shop_api\.crt\.v1\s+crt\s+shop_api\s+removed\s+orphan/, "the table names object, kind, identity, result and why");
  t.match(showPrune(r), /removed 4, kept 0 \(1 identity in scope\)/, "and a summary");
});

t.test("prune: what a service uses stays (exit 1, the service named); Docker's refusal after the listing is reported", async (t) => {
  const swarm = new PruneSwarm();
  const api = gen("shop_api", 1);
  swarm.secrets = [...api, ...gen("shop_db", 1)];
  swarm.services = [service("shop_api", { secrets: api })];
  const r = await prune(swarm as unknown as Swarm, params({ stacks: ["shop"] }, { keepBundle: true }));
  t.same(swarm.removed, ["mtls.shop_db.crt.v1", "mtls.shop_db.key.v1"], "only the orphan went");
  t.equal(pruneExitCode(r), 1, "exit 1: something in scope is still in use");
  t.match(showPrune(r), /still in use, kept: shop_api \(service shop_api\); remove the service first/);

  // A service starts using shop_db's certificate between the listing and the removal: Docker refuses, we say so.
  const race = new PruneSwarm();
  const db = gen("shop_db", 1);
  race.secrets = [...db];
  race.beforeRemove = () => (race.services = [service("shop_db_v2", { secrets: db })]);
  const rr = await prune(race as unknown as Swarm, params({ stacks: ["shop"] }));
  t.same(rr.objects.map((o) => o.result), ["refused", "refused"], "both refused");
  t.equal(rr.objects[0]?.error, "Docker refused: secret 'mtls.shop_db.crt.v1' is in use by the following service: shop_db_v2", "with Docker's reason, without the RPC noise");
  t.equal(pruneExitCode(rr), 1, "exit 1");
  t.match(showPrune(rr), /refused by Docker 2/);

  const broken = new PruneSwarm();
  broken.secrets = gen("shop_db", 1);
  broken.beforeRemove = () => {
    throw dockerError("remove secret x", engineFailure(500, "raft: no leader"));
  };
  const rb = await prune(broken as unknown as Swarm, params({ stacks: ["shop"] }));
  t.same(rb.objects.map((o) => o.result), ["failed", "failed"], "another engine error: failed, and prune goes on with the next object");
  t.match(rb.objects[0]?.error, /500 raft: no leader/);
  t.equal(pruneExitCode(rb), 1);
});

t.test("scope: bad input is refused, naming the problem", async (t) => {
  t.throws(() => readPruneScope({}), /say what to prune/);
  t.throws(() => readPruneScope({ all: true, stack: ["a"] }), /not both/);
  t.throws(() => readPruneScope({ stack: ["a b"] }), /'a b' is not a stack name/);
  t.throws(() => readPruneScope({ identity: ["Shop"] }), /must be lower-case/);
  t.same(readPruneScope({ stack: ["shop", "blog"], identity: ["x"] }), { stacks: ["shop", "blog"], identities: ["x"], all: false });
});

t.test("CLI: bad input exits 2 with one line, before any swarm is asked", async (t) => {
  const env = { DOCKER_HOST: "tcp://127.0.0.1:1" }; // nothing listens: a Docker call would fail with exit 1, not 2
  for (const [args, message] of [
    [["prune"], /say what to prune: --stack NAME, --identity ID/],
    [["prune", "--stack", "shop", "--all"], /not both/],
    [["prune", "--identity", "-bad"], /must start with a letter or a digit/],
  ] as [string[], RegExp][]) {
    const r = await runCli(args, { env });
    t.equal(r.code, 2, `${args.join(" ")}: exit 2`);
    t.match(r.stderr, message);
    t.equal(r.stderr.trim().split("\n").length, 1, "one line");
  }
});

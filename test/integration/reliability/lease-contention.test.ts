/**
 * Two `serve` processes (cron every minute) and manual `rotate --all --force` runs against the same labelled services,
 * together for about 90 s, with forced admin rotations fired at both serves at the same moment as the CLI: the lease
 * lets one holder at a time rotate. From the audit lines of both serves and the CLI's reports: the actors did contend
 * (some were refused), no service was rotated twice in one cycle (no two rotations started from the same
 * generation), no generation is skipped or issued twice, every service ends converged on its newest generation, and
 * both serves exit 0 on SIGTERM. (A holder killed while holding the lease: lease-takeover.test.ts.)
 */
import "reflect-metadata";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { keyMaterialIn } from "../../helpers/cli.js";
import { spawnServe, type ServeProcess } from "../../helpers/serve-process.js";
import { until } from "../../helpers/swarm-test.js";
import { freePort, inspectService, requireSwarm, RotationWorld, secretsOf, waitRunning, type RotateJson } from "../rotation/fixtures/rotation-world.js";

interface Rotation {
  holder: string;
  service: string;
  before: number | null;
  after: number | null;
  result: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.before(requireSwarm);

t.test("two serves and a manual rotate share one swarm: one holder at a time, generations contiguous", async (t) => {
  const w = new RotationWorld();
  const dir = mkdtempSync(join(tmpdir(), "lease-contention-"));
  const token = randomBytes(24).toString("hex");
  writeFileSync(join(dir, "admin-token"), `${token}\n`, { mode: 0o600 });
  const services = [w.name("a"), w.name("b"), w.name("c")];
  for (const s of services) await w.createService(s);
  for (const s of services) await waitRunning(s);

  const serves: { name: string; port: number; proc: ServeProcess }[] = [];
  t.teardown(async () => {
    for (const s of serves) await s.proc.kill();
    rmSync(dir, { recursive: true, force: true });
    await w.cleanup();
  });
  for (const name of ["serve-1", "serve-2"]) {
    const port = await freePort();
    const proc = spawnServe(["--no-tls", "--listen", `127.0.0.1:${port}`, "--admin-token-file", join(dir, "admin-token")], { ...w.env, SWARM_MTLS_SCHEDULE_CRON: "* * * * *" });
    const s = { name, port, proc };
    serves.push(s);
  }

  const rotations: Rotation[] = [];
  const cliReports: string[] = [];
  const adminStatuses: number[] = [];
  const adminRotate = async (s: (typeof serves)[number]): Promise<void> => {
    try {
      const r = await fetch(`http://127.0.0.1:${s.port}/v1/rotate`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ force: true }) });
      adminStatuses.push(r.status);
      await r.text();
    } catch {
      adminStatuses.push(-1); // not listening yet
    }
  };
  const cliRotate = async (): Promise<void> => {
    const r = await w.cli(["--json", "rotate", "--all", "--force"]);
    cliReports.push(`exit ${r.code}: ${r.stderr.trim().split("\n").pop() ?? ""}`);
    if (r.code === 0) {
      for (const o of (JSON.parse(r.stdout) as RotateJson).outcomes) rotations.push({ holder: "cli", service: o.service, before: o.generationBefore, after: o.generationAfter, result: o.result });
    }
  };

  // The rounds start once both serves answer (start-up takes long on a loaded machine).
  for (const s of serves) await until(`${s.name} answering`, 180_000, () => fetch(`http://127.0.0.1:${s.port}/healthz`).then((r) => (r.status < 500 ? true : undefined)));
  const t0 = Date.now();
  // Round 1: all three at the same instant; round 2: the CLI 5 s ahead (its start-up is slower than an HTTP call); round 3: the serves a moment ahead.
  const rounds: [number, number][] = [[15_000, 0], [40_000, -5000], [65_000, 300]];
  for (const [at, cliDelay] of rounds) {
    await sleep(Math.max(0, t0 + at - Date.now()));
    await Promise.all([sleep(Math.max(0, cliDelay)).then(cliRotate), sleep(Math.max(0, -cliDelay)).then(() => Promise.all(serves.map(adminRotate)))]);
  }
  await sleep(Math.max(0, t0 + 90_000 - Date.now()));
  t.ok(cliReports.every((r) => r.startsWith("exit 0") || /another rotation is running/.test(r)), `each manual rotate either ran or was refused with a clear message: ${cliReports.join(" | ")}`);
  t.ok(adminStatuses.every((s) => s === 200 || s === 409), `every admin rotate answered 200 or 409 (${adminStatuses.join(",")})`);
  const refused = adminStatuses.filter((s) => s === 409).length + cliReports.filter((r) => /another rotation is running/.test(r)).length;
  t.ok(refused >= 1, `the actors did contend: ${refused} of ${adminStatuses.length + cliReports.length} attempts were refused while another held the lease`);

  for (const s of serves) s.proc.child.kill("SIGTERM");
  for (const s of serves) t.equal((await s.proc.exited).code, 0, `${s.name} exits 0 on SIGTERM`);

  for (const s of serves) {
    for (const line of s.proc.log().split("\n")) {
      if (!line.startsWith("{")) continue;
      let j: { component?: string; service?: string; audit?: boolean; event?: string; generation?: { from: number | null; to: number | null }; generationBefore?: number | null; generationAfter?: number | null; result?: string };
      try {
        j = JSON.parse(line);
      } catch {
        continue;
      }
      // Audit records (src/rotation/audit-record.ts): generation {from, to}, result ok | failed.
      if (j.audit === true) j = { ...j, generationBefore: j.generation?.from ?? null, generationAfter: j.generation?.to ?? null, result: j.result === "ok" ? (j.event === "reattach" ? "reattached" : "rotated") : j.result };
      if (j.component === "audit" && j.service && services.includes(j.service) && j.result) rotations.push({ holder: s.name, service: j.service, before: j.generationBefore ?? null, after: j.generationAfter ?? null, result: j.result });
    }
    t.equal(keyMaterialIn(s.proc.log(), [w.env.SWARM_MTLS_KEK_FILE]), null, `${s.name}'s log holds no private key nor the KEK`);
  }
  t.ok(new Set(rotations.filter((r) => r.result === "rotated").map((r) => r.holder)).size >= 1, "rotations happened");

  for (const svc of services) {
    const mine = rotations.filter((r) => r.service === svc && r.result === "rotated");
    const afters = mine.map((r) => r.after as number).sort((a, b) => a - b);
    t.same(afters, afters.map((_, i) => i + 1), `${svc}: generations 1..${afters.length}, none skipped or issued twice (${mine.map((r) => `${r.holder}:${r.before}→${r.after}`).join(" ")})`);
    t.ok(mine.every((r) => r.after === (r.before ?? 0) + 1), `${svc}: every rotation went from the then-current generation to the next`);
    const befores = mine.map((r) => r.before ?? 0);
    t.equal(new Set(befores).size, befores.length, `${svc}: never rotated twice in one cycle (no two holders rotated from the same generation: ${befores.join(",")})`);
    t.notOk(rotations.some((r) => r.service === svc && r.result === "failed"), `${svc}: no rotation failed`);
    const spec = await inspectService(svc);
    const attached = (spec.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).map((r) => r.SecretName).filter((n) => /\.crt\.v\d+$/.test(n));
    t.same(attached, [`mtls.${svc}.crt.v${afters.length}`], `${svc}: the service references its newest generation`);
    t.not(spec.UpdateStatus?.State, "rollback_completed", `${svc}: no rollback`);
    const gens = new Set((await secretsOf(svc)).map((s) => Number(/\.v(\d+)$/.exec(s.Spec.Name)?.[1])));
    t.ok(gens.size <= 2, `${svc}: at most one previous generation is kept (${[...gens].join(",")})`);
    await waitRunning(svc);
  }
});

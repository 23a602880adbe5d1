import { badInput } from "../errors.js";
import { closestMatch } from "../closest-match.js";
import type { RotationReport, ServiceOutcome } from "../rotation/rollout.js";
import { createRotator } from "../rotation/rotator.js";
import type { CliContext } from "./context.js";
import { parseRolloutOptions, progressPrinter } from "./rollout-options.js";
import { table } from "./output.js";
import { rotateRemote } from "./rotate-remote.js";

export interface RotateOptions {
  all?: boolean;
  force?: boolean;
  dryRun?: boolean;
  concurrency?: string;
  timeout?: string;
  /** Ask a running `serve` at this URL instead of rotating here (see rotate-remote.ts). */
  server?: string;
  adminTokenFile?: string;
  caFile?: string;
}

/** Environment variable read only by tests: `rollout:<step>` → the process kills itself right after that rollout step. */
const CRASH_HOOK = "SWARM_MTLS_TEST_CRASH_AFTER";
const ROLLOUT_STEPS = ["secrets-created", "spec-updated", "converging", "converged"] as const;

function crashHook(spec: string | undefined): { afterStep?: (step: (typeof ROLLOUT_STEPS)[number]) => void } {
  const [kind, step] = (spec ?? "").split(":");
  if (kind !== "rollout" || !(ROLLOUT_STEPS as readonly string[]).includes(step ?? "")) return {};
  return { afterStep: (s) => (s === step ? void process.kill(process.pid, "SIGKILL") : undefined) };
}

export async function runRotate(ctx: CliContext, services: string[], o: RotateOptions): Promise<RotationReport> {
  if (services.length === 0 && !o.all) throw badInput("name the services to rotate, or pass --all for every opted-in service");
  if (services.length > 0 && o.all) throw badInput("give service names or --all, not both");
  if (o.server !== undefined || o.adminTokenFile !== undefined || o.caFile !== undefined) return runRotateRemote(ctx, services, o);
  const { concurrency, timeoutSeconds } = parseRolloutOptions(o);
  const swarm = await ctx.swarm();
  if (services.length > 0) {
    // A name that is no service is bad input (exit 2), refused before anything runs, as `envoy <unknown>` does.
    const known = await swarm.listServices();
    const unknown = services.filter((w) => !known.some((s) => s.name === w || s.id === w || (w.length >= 6 && s.id.startsWith(w))));
    if (unknown.length > 0) {
      const near = closestMatch(unknown[0] as string, known.map((s) => s.name));
      throw badInput(`no service named ${unknown.map((u) => `'${u}'`).join(", ")}${near ? ` (did you mean ${near}?)` : ""}`);
    }
  }
  const { authority } = await ctx.authority();
  const progress = progressPrinter(ctx.json);
  const rotator = createRotator({ swarm, config: ctx.config, logger: ctx.logger, now: ctx.clock });
  const deps = { authority, observer: { progress } };
  const params = { services: services.length ? services : undefined, force: o.force, concurrency, timeoutSeconds, trigger: "cli", ...crashHook(ctx.env[CRASH_HOOK]) };
  if (o.dryRun) return rotator.rotate(deps, { ...params, dryRun: true });
  if (!ctx.json) process.stderr.write(`rotating ${services.length ? services.join(", ") : "every opted-in service"}${o.force ? " (forced)" : ""}\n`);
  return rotator.rotate(deps, params);
}

/** `--server`: the rotation runs inside serve, under its lease and configuration. */
function runRotateRemote(ctx: CliContext, services: string[], o: RotateOptions): Promise<RotationReport> {
  if (!o.server) throw badInput("--admin-token-file and --ca-file go with --server https://HOST:PORT");
  if (!o.adminTokenFile) throw badInput("--server needs --admin-token-file (the CA service's admin token)");
  if (o.concurrency !== undefined || o.timeout !== undefined) throw badInput("--concurrency and --timeout apply to a local rotate; with --server the CA service uses its own configuration");
  const progress = ctx.json ? undefined : (line: string) => process.stderr.write(`${line}\n`);
  return rotateRemote({ server: o.server, adminTokenFile: o.adminTokenFile, caFile: o.caFile, services, all: o.all === true, force: o.force === true, dryRun: o.dryRun === true, progress });
}

const gen = (g: number | null): string => (g === null ? "-" : `v${g}`);

export function showRotate(r: RotationReport): string {
  const rows = r.outcomes.map((o: ServiceOutcome) => [
    o.service,
    o.result,
    `${gen(o.generationBefore)} → ${gen(o.generationAfter)}`,
    o.reason,
    o.error ?? [o.detail, ...o.warnings.map((w) => `warning: ${w}`)].join("; "),
  ]);
  const counts = new Map<string, number>();
  for (const o of r.outcomes) counts.set(o.result, (counts.get(o.result) ?? 0) + 1);
  const summary = [...counts].map(([k, v]) => `${v} ${k}`).join(", ") || "no opted-in services";
  return [r.dryRun ? "plan (dry run, nothing changed):" : "", table(["service", "result", "generation", "reason", "detail"], rows), "", summary].filter((x, i) => x !== "" || i > 0).join("\n");
}

/** 0 all done, 1 some failed or invalid (failed ones were rolled back). */
export function rotateExitCode(r: RotationReport): number {
  return r.outcomes.some((o) => o.result === "failed" || o.result === "invalid") ? 1 : 0;
}

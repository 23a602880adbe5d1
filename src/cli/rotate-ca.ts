import { rotateCa, type CaRotationReport, type CaRotationStatus } from "../rotation/ca-rotation.js";
import { CA_ROTATION_PHASES, type CaRotationPhase } from "../rotation/ca-rotation-record.js";
import { CA_ROTATION_STEPS, type CaRotationStep } from "../rotation/ca-rotation-phase.js";
import { withLease } from "../rotation/with-lease.js";
import { readKekFile } from "../store/kek-file.js";
import type { CliContext } from "./context.js";
import { parseRolloutOptions, progressPrinter } from "./rollout-options.js";

export interface RotateCaOptions {
  root?: boolean;
  dryRun?: boolean;
  step?: boolean;
  concurrency?: string;
  timeout?: string;
}

/** Environment variable read only by tests: `<phase>` or `<step>:<rollout step>` → the process kills itself there. */
const CRASH_HOOK = "SWARM_MTLS_TEST_CRASH_AFTER";

function crashHooks(spec: string | undefined): { afterPhase?: (p: CaRotationPhase) => void; afterRollout?: (s: CaRotationStep, r: string) => void } {
  if (!spec) return {};
  const die = (): void => {
    process.kill(process.pid, "SIGKILL");
  };
  if ((CA_ROTATION_PHASES as readonly string[]).includes(spec)) return { afterPhase: (p) => (p === spec ? die() : undefined) };
  const [step, rollout] = spec.split(":");
  if ((CA_ROTATION_STEPS as readonly string[]).includes(step ?? "") && rollout) return { afterRollout: (s, r) => (s === step && r === rollout ? die() : undefined) };
  return {};
}

export async function runRotateCa(ctx: CliContext, o: RotateCaOptions): Promise<CaRotationReport> {
  const { concurrency, timeoutSeconds } = parseRolloutOptions(o);
  const swarm = await ctx.swarm();
  const store = await ctx.store();
  const kek = await readKekFile(ctx.kekFile(store));
  const progress = progressPrinter(ctx.json);
  const deps = { swarm, store, kek, config: ctx.config, logger: ctx.logger, observer: { progress } };
  const params = { kind: o.root ? ("root" as const) : undefined, oneStep: o.step === true, concurrency, timeoutSeconds, trigger: "cli", ...crashHooks(ctx.env[CRASH_HOOK]) };
  if (o.dryRun) return rotateCa(deps, { ...params, dryRun: true });
  return withLease(swarm, { ttlSeconds: ctx.config.seconds.leaseTtl, name: ctx.config.rotation.leaseName, logger: ctx.logger }, (signal) =>
    rotateCa(deps, {
      ...params,
      signal,
      afterPhase: async (phase) => {
        if (!ctx.json) process.stderr.write(`phase ${phase} reached\n`);
        await params.afterPhase?.(phase);
      },
    }),
  );
}

const short = (fp: string | undefined): string => (fp ? fp.slice(0, 16) : "-");

/** The rotation lines of `status` and `rotate-ca`. */
export function showCaRotation(r: CaRotationStatus): string[] {
  const lines = [`CA rotation ${r.id} (${r.kind}): phase ${r.phase}, next ${r.next}`];
  const f = r.fingerprints;
  lines.push(`  intermediate ${short(f.oldIntermediate)} → ${short(f.newIntermediate)}`);
  if (f.newRoot) lines.push(`  root         ${short(f.oldRoot)} → ${short(f.newRoot)} (cross certificate ${short(f.cross)})`);
  if (r.progress) {
    const p = r.progress;
    lines.push(`  services: ${p.onNewIntermediate}/${p.total} on the new intermediate, ${p.onCurrentBundle}/${p.total} on the current trust bundle`);
    if (p.pending.length > 0 && r.phase !== "complete") lines.push(`  waiting for: ${p.pending.join(", ")}`);
  }
  return lines;
}

export function showRotateCa(r: CaRotationReport): string {
  const lines: string[] = [];
  if (r.dryRun) {
    const kind = r.rotation && r.rotation.phase !== "complete" ? `resuming ${r.rotation.kind} rotation ${r.rotation.id} at phase ${r.rotation.phase}` : "new rotation";
    lines.push(`plan (dry run, nothing changed; ${kind}): ${r.steps.join(" → ")}`);
    return lines.join("\n");
  }
  for (const s of r.finished) {
    lines.push(`finished ${s.step} (phase ${s.phase}); ${s.changed.length} service(s) changed, ${s.progress.total} managed`);
    for (const c of s.changed) lines.push(`  ${c.service}: ${c.result} (${c.reason}) → v${c.generationAfter ?? "-"}`);
  }
  lines.push(`next: ${r.next}`);
  if (r.rotation) lines.push("", ...showCaRotation(r.rotation));
  return lines.join("\n");
}

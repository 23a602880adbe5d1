import type { CaRotationReport, CaRotationStatus } from "../rotation/ca-rotation.js";
import { CA_ROTATION_PHASES, type CaRotationPhase } from "../rotation/ca-rotation-record.js";
import { CA_ROTATION_STEPS, type CaRotationStep } from "../rotation/ca-rotation-phase.js";
import { createRotator } from "../rotation/rotator.js";
import { badInput } from "../errors.js";
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

/**
 * rotate-ca rolls the new CA out to the swarm's services under the swarm lease, so it needs the CA that those services
 * trust: the swarm store. A file store (file:DIR) has no services to roll out to, and its CA is not the one the
 * swarm's services mount; rotating it against them would hand them certificates from a CA their peers do not trust.
 */
function refuseFileStore(location: string, spec: string): void {
  if (location === "swarm") return;
  const chosen = spec === "auto" ? ` (--store auto chose ${location}: no swarm manager answered)` : "";
  throw badInput(
    `rotate-ca works on the swarm store only: it rolls the new CA out to the swarm's services, and the CA in ${location}${chosen} has none. Nothing was changed. Run it on a swarm manager with --store swarm (see README, "CA rotation", for a file store)`,
  );
}

export async function runRotateCa(ctx: CliContext, o: RotateCaOptions): Promise<CaRotationReport> {
  const { concurrency, timeoutSeconds } = parseRolloutOptions(o);
  const store = await ctx.store();
  refuseFileStore(store.location, ctx.config.store);
  const swarm = await ctx.swarm();
  const kek = await readKekFile(ctx.kekFile(store));
  const progress = progressPrinter(ctx.json);
  const rotator = createRotator({ swarm, config: ctx.config, logger: ctx.logger, now: ctx.clock });
  const deps = { store, kek, observer: { progress } };
  const params = { kind: o.root ? ("root" as const) : undefined, oneStep: o.step === true, concurrency, timeoutSeconds, trigger: "cli", ...crashHooks(ctx.env[CRASH_HOOK]) };
  if (o.dryRun) return rotator.rotateCa(deps, { ...params, dryRun: true });
  return rotator.rotateCa(deps, {
    ...params,
    afterPhase: async (phase) => {
      if (!ctx.json) process.stderr.write(`phase ${phase} reached\n`);
      await params.afterPhase?.(phase);
    },
  });
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

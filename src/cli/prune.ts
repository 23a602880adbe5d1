import { readPruneScope, type PruneReport, type PruneResult } from "../rotation/prune.js";
import { createRotator } from "../rotation/rotator.js";
import type { CliContext } from "./context.js";
import { table } from "./output.js";

export interface PruneOptions {
  stack?: string[];
  identity?: string[];
  all?: boolean;
  keepBundle?: boolean;
  dryRun?: boolean;
}

/** Repeatable string option for commander. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/**
 * `prune`: removes the managed secrets and configs of identities no service uses (crt, key, Envoy config) and, when
 * no service uses any, the CA's trust bundles. Under the rotation lease, so it never races a rollout that has just
 * created a generation and not yet mounted it. Reads no key and needs no key-encryption key.
 */
export async function runPrune(ctx: CliContext, o: PruneOptions): Promise<PruneReport> {
  const scope = readPruneScope(o);
  const swarm = await ctx.swarm();
  const params = {
    scope,
    caName: ctx.config.caStateName,
    labelPrefix: ctx.config.labelPrefix,
    keepBundle: o.keepBundle === true,
    dryRun: o.dryRun === true,
    onProgress: ctx.json ? undefined : (r: PruneResult, phase: "removing" | "done") => {
      if (phase === "done") process.stderr.write(`  ${r.type} ${r.name}: ${r.result}${r.error ? ` (${r.error})` : ""}\n`);
    },
  };
  const rotator = createRotator({ swarm, config: ctx.config, logger: ctx.logger, now: ctx.clock });
  if (!params.dryRun && !ctx.json) process.stderr.write(`pruning ${describeScope(o)}${params.keepBundle ? " (keeping the trust bundle)" : ""}\n`);
  return rotator.prune(params);
}

function describeScope(o: PruneOptions): string {
  if (o.all) return "every identity no service uses";
  return [...(o.stack ?? []).map((s) => `stack ${s}`), ...(o.identity ?? []).map((i) => `identity ${i}`)].join(", ");
}

export function showPrune(r: PruneReport): string {
  const rows = r.objects.map((o) => [`${o.type} ${o.name}`, o.kind, o.identity ?? "-", o.result, o.error ?? o.why]);
  const count = (result: PruneResult["result"]) => r.objects.filter((o) => o.result === result).length;
  const inUse = r.identities.filter((i) => i.usedBy.length > 0);
  const summary = [
    r.dryRun ? `would remove ${count("planned")}` : `removed ${count("removed")}`,
    `kept ${count("kept")}`,
    ...(count("refused") ? [`refused by Docker ${count("refused")}`] : []),
    ...(count("failed") ? [`failed ${count("failed")}`] : []),
  ].join(", ");
  const lines = [
    r.dryRun ? "plan (dry run, nothing changed):" : "",
    r.objects.length ? table(["object", "kind", "identity", "result", "why"], rows) : "nothing managed in scope",
    "",
    `${summary} (${r.identities.length} identit${r.identities.length === 1 ? "y" : "ies"} in scope)`,
    ...inUse.map((i) => `still in use, kept: ${i.identity} (service ${i.usedBy.join(", ")}); remove the service first`),
  ];
  return lines.filter((x, i) => x !== "" || i > 0).join("\n");
}

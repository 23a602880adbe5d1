import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { checkEnvoyFile, type EnvoyFinding } from "../envoy/index.js";
import { badInput, MtlsError } from "../errors.js";
import { gatherFleet } from "../rotation/fleet.js";
import { writeFileAtomic } from "../store/atomic-write.js";
import type { CliContext } from "./context.js";
import { remoteEnvoyBootstrap } from "./remote-read.js";

export interface EnvoyOptions {
  out?: string;
  check?: boolean;
  /** Read the bootstrap from a running serve's public API (GET /v1/envoy/<identity>/bootstrap.yaml). */
  server?: string;
  caFile?: string;
}

export interface EnvoyResult {
  service?: string;
  file?: string;
  /** The bootstrap YAML (when rendered for a service and not written to --out). */
  yaml?: string;
  written?: string;
  check?: { errors: EnvoyFinding[]; warnings: EnvoyFinding[] };
}

/** `envoy <service>`: the bootstrap the service's labels ask for. `envoy check FILE`: validate any Envoy config. */
export async function runEnvoy(ctx: CliContext, target: string, file: string | undefined, o: EnvoyOptions): Promise<EnvoyResult> {
  if (target === "check") {
    if (!file) throw badInput("envoy check: give the Envoy config FILE to check");
    if (o.server !== undefined) throw badInput("envoy check: --server reads a service's bootstrap from a running serve; `envoy check FILE` validates FILE here");
    if (o.out !== undefined) throw badInput("envoy check: --out writes a service's bootstrap; `envoy check FILE` only validates FILE and writes nothing");
    const path = resolve(file);
    const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
      throw badInput(`envoy check: ${path} cannot be read (${e.code})`);
    });
    return { file: path, check: checkEnvoyFile(text) };
  }
  if (file) throw badInput(`unexpected argument '${file}' (did you mean \`swarm-mtls envoy check ${file}\`?)`);
  const { service, yaml } = o.server ? await remoteEnvoyBootstrap({ server: o.server, ...(o.caFile ? { caFile: o.caFile } : {}) }, target) : await localBootstrap(ctx, target);
  const result: EnvoyResult = { service };
  if (o.check) result.check = checkEnvoyFile(yaml);
  if (o.out) {
    await writeFileAtomic(resolve(o.out), yaml, { mode: 0o644 });
    result.written = resolve(o.out);
  } else {
    result.yaml = yaml;
  }
  return result;
}

/** The bootstrap a service's labels ask for, rendered here from the swarm and the CA's public part. */
async function localBootstrap(ctx: CliContext, target: string): Promise<{ service: string; yaml: string }> {
  const swarm = await ctx.swarm();
  const { authority } = await ctx.publicAuthority();
  const fleet = await gatherFleet(swarm, authority, ctx.config, { services: [target], force: false, now: ctx.clock() });
  const entry = fleet.entries[0];
  if (!entry || entry.error) throw badInput(entry?.error ?? `no service named '${target}'`);
  if (!entry.envoy) throw new MtlsError("not-found", `service ${target} has no Envoy sidecar (add the label ${ctx.config.labelPrefix}envoy=true)`);
  return { service: entry.service.name, yaml: entry.envoy.yaml };
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;

export function showEnvoy(r: EnvoyResult): string {
  const lines: string[] = [];
  if (r.yaml && !r.check) return r.yaml;
  if (r.written) lines.push(`wrote ${r.written}`);
  if (r.check) {
    const what = r.file ?? `bootstrap of ${r.service}`;
    for (const f of r.check.errors) lines.push(`error   ${f.path}: ${f.message}`);
    for (const f of r.check.warnings) lines.push(`warning ${f.path}: ${f.message}`);
    lines.push(`${what}: ${count(r.check.errors.length, "error")}, ${count(r.check.warnings.length, "warning")}`);
  }
  return lines.join("\n");
}

export function envoyExitCode(r: EnvoyResult): number {
  return r.check && r.check.errors.length > 0 ? 1 : 0;
}

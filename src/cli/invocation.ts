/**
 * How the operator ran this process, so that the advice an error gives can be copied and run as typed: after
 * `npm ci` there is no `swarm-mtls` on the PATH, and `npm start` only runs `serve`.
 */
import { accessSync, constants, realpathSync } from "node:fs";
import { basename, delimiter, isAbsolute, join, relative } from "node:path";

export interface CliInvocation {
  /** The words that run this CLI here: `swarm-mtls`, `npx swarm-mtls` or `node dist/src/cli/main.js`. */
  command: string;
  /** Run by `npm start` (scripts/start.mjs): serve's flags go after `npm start --`. */
  npmStart: boolean;
}

export interface InvocationFacts {
  /** process.argv[1]: the script node runs. */
  argv1: string | undefined;
  cwd: string;
  env: Record<string, string | undefined>;
  /** Does `swarm-mtls` on the PATH run this same script? (see swarmMtlsOnPath) */
  onPath: boolean;
}

/** A word the shell passes on unchanged, or the word in single quotes. Pure. */
export function shellWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** How to run this CLI again from the same directory. Pure. */
export function cliInvocation(f: InvocationFacts): CliInvocation {
  const npmStart = f.env.npm_lifecycle_event === "start" && f.env.npm_package_name === "swarm-mtls";
  const script = f.argv1 ?? "dist/src/cli/main.js";
  let command: string;
  if (f.env.npm_command === "exec" && basename(script) === "swarm-mtls") command = "npx swarm-mtls";
  else if (f.onPath && basename(script) === "swarm-mtls") command = "swarm-mtls";
  else {
    const rel = isAbsolute(script) ? relative(f.cwd, script) : script;
    const shown = rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : script;
    command = `${script.endsWith(".ts") ? "npx tsx" : "node"} ${shellWord(shown)}`;
  }
  return { command, npmStart };
}

/** Does `swarm-mtls` on the PATH resolve to `script`? Reads the file system (the adapter of cliInvocation). */
export function swarmMtlsOnPath(script: string | undefined, path: string | undefined): boolean {
  if (!script || !path) return false;
  let target: string;
  try {
    target = realpathSync(script);
  } catch {
    return false;
  }
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "swarm-mtls");
    try {
      accessSync(candidate, constants.X_OK);
      return realpathSync(candidate) === target;
    } catch {
      continue;
    }
  }
  return false;
}

/**
 * The command that creates a CA, as this process was run: `npm start -- --init --trust-domain example.org` under
 * `npm start`, `<cli> serve --init …` for serve, `<cli> init …` otherwise. `flags` are global flags the operator
 * gave (--store, --kek-file), repeated so the command reaches the same store and key. Pure.
 */
export function initAdvice(inv: CliInvocation, p: { serve: boolean; flags?: string[] }): string {
  const flags = (p.flags ?? []).map(shellWord);
  if (inv.npmStart) return ["npm start --", "--init", "--trust-domain example.org", ...flags].join(" ");
  const sub = p.serve ? "serve --init" : "init";
  return [inv.command, sub, "--trust-domain example.org", ...flags].join(" ");
}

/** The command that runs `serve` with `flags`, as this process was run (`npm start -- …` under npm start). Pure. */
export function serveAdvice(inv: CliInvocation, flags: string[]): string {
  const words = flags.map(shellWord);
  return inv.npmStart ? ["npm start --", ...words].join(" ") : [inv.command, "serve", ...words].join(" ");
}

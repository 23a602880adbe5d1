import type { Command } from "commander";

/**
 * Exit codes of the commands whose own help text does not list them (rotate, rotate-ca, prune, envoy, audit and
 * completion do). The general rule (src/errors.ts): 0 ok, 1 a failure (Docker, timeout, a bug), 2 bad input (flags,
 * config, key-encryption key, no CA, not found), 3 another rotation holds the lease.
 */
const EXIT_CODES: Record<string, string> = {
  init: "0 CA created, 1 Docker or the store failed, 2 bad input (or a CA exists without --force).",
  issue: "0 written, 1 the files could not be written, 2 bad input (or no CA, or the KEK does not open it).",
  ca: "0 ok, 2 unknown subcommand; each subcommand lists its own.",
  "ca show": "0 printed, 1 the store could not be read, 2 no CA (or the KEK does not open it).",
  status: "0 every certificate valid and none overdue, 1 a certificate expired or missing, or invalid labels (or Docker or\n" +
    "the store failed), 2 bad input (or no CA), 4 a certificate is due for renewal and no rotation is running.",
  backup: "0 written, 1 the store or the file failed, 2 bad input (or no CA).",
  restore: "0 restored, 1 the store failed, 2 bad input (unreadable or changed backup, wrong KEK, a CA exists without --force).",
  serve: "0 stopped on SIGTERM/SIGINT (or --once done), 1 it could not start or keep running, 2 bad input (config, flags, no CA with TLS on).",
  "serve stop": "0 stopped, 1 it did not stop, 2 bad input.",
  config: "0 ok, 2 unknown subcommand; each subcommand lists its own.",
  "config schema": "0 printed.",
  "config check": "0 the file is valid, 1 it has problems (all listed) or cannot be read as YAML.",
  complete: "0 candidates printed (used by the completion scripts).",
};

/** Adds "Exit codes: …" to the help of every command listed above (a command path, e.g. "ca show"). */
export function addExitCodeHelp(program: Command): void {
  const walk = (cmd: Command, path: string[]): void => {
    for (const c of cmd.commands) {
      const p = [...path, c.name()];
      const codes = EXIT_CODES[p.join(" ")];
      if (codes) c.addHelpText("after", `\nExit codes: ${codes}\n`);
      walk(c, p);
    }
  };
  walk(program, []);
}

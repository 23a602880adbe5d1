/**
 * `swarm-mtls completion bash|zsh|fish`: the scripts are valid for their shell, and bash (with Debian's
 * bash-completion, installed by scripts/test.sh) really completes commands, subcommands and options through them.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { CLI, runCli } from "../../helpers/cli.js";

const BASH_COMPLETION = "/usr/share/bash-completion/bash_completion";

t.test("completion scripts for bash, zsh and fish; an unknown shell is bad input", async (t) => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await runCli(["completion", shell]);
    t.equal(r.code, 0, `${shell}: exit 0`);
    t.match(r.stdout, "swarm-mtls complete --", `${shell}: asks the CLI for candidates`);
  }
  const bash = await runCli(["completion", "bash"]);
  const syntax = spawnSync("bash", ["-n"], { input: bash.stdout, encoding: "utf8" });
  t.equal(syntax.status, 0, `bash -n accepts the script ${syntax.stderr}`);
  const bad = await runCli(["completion", "tcsh"]);
  t.equal(bad.code, 2, "tcsh: exit 2");
  t.match(bad.stderr, "tcsh");
});

t.test("bash completes commands, subcommands and options through the script", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "completion-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The script runs `swarm-mtls` from PATH, as an installed CLI would be.
  writeFileSync(join(dir, "swarm-mtls"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
  chmodSync(join(dir, "swarm-mtls"), 0o755);
  const complete = (line: string): string[] => {
    const script = [
      `source ${BASH_COMPLETION}`,
      "source <(swarm-mtls completion bash)",
      'read -ra COMP_WORDS <<<"$LINE"',
      '[[ "$LINE" == *" " ]] && COMP_WORDS+=("")',
      "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE=\"$LINE\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()",
      "__swarm_mtls_complete 2>/dev/null",
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join("\n");
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8", env: { PATH: `${dir}:${process.env.PATH ?? ""}`, HOME: dir, LINE: line } });
    t.equal(r.status, 0, `bash ran for '${line}' ${r.stderr}`);
    return r.stdout.split("\n").filter(Boolean);
  };
  t.same(complete("swarm-mtls rot").sort(), ["rotate", "rotate-ca"], "commands");
  t.same(complete("swarm-mtls rotate --dr"), ["--dry-run"], "a command's options");
  t.same(complete("swarm-mtls config ").filter((x) => x !== "help").sort(), ["check", "schema"], "subcommands");
});

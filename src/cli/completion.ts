import tab from "@bomb.sh/tab/commander";
import type { Command } from "commander";

/**
 * `swarm-mtls completion bash|zsh|fish|powershell` prints a completion script (from @bomb.sh/tab, cobra-style: the
 * script asks the hidden `swarm-mtls complete -- <words>` for candidates, so it always matches this version's
 * commands and options). Call it last: it reads the command tree as it is at that moment.
 */
export function registerCompletion(program: Command): void {
  tab(program, { completionCommandName: "completion" });
  program.commands
    .find((c) => c.name() === "completion")
    ?.description("print a shell completion script: bash, zsh, fish or powershell")
    .addHelpText(
      "after",
      "\nExit codes: 0 printed, 2 unknown shell.\nExamples:\n" +
        "  swarm-mtls completion bash > /etc/bash_completion.d/swarm-mtls     # needs the bash-completion package\n" +
        "  swarm-mtls completion zsh > \"${fpath[1]}/_swarm-mtls\"\n" +
        "  swarm-mtls completion fish > ~/.config/fish/completions/swarm-mtls.fish\n",
    );
}

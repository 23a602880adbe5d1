import type { Command } from "commander";
import { configJsonSchema } from "../config/json-schema.js";
import { configFileProblems } from "../config/load-config.js";
import { VERSION } from "../version.js";
import { printResult } from "./output.js";

export interface ConfigCheckReport {
  file: string;
  valid: boolean;
  problems: string[];
}

export function showConfigCheck(r: ConfigCheckReport): string {
  if (r.valid) return `${r.file}: valid`;
  return `${r.file}: ${r.problems.length} problem${r.problems.length === 1 ? "" : "s"}\n${r.problems.map((p) => `  ${p.replace(/^config: /, "")}`).join("\n")}`;
}

/** `config schema` (the JSON Schema of a config file) and `config check FILE` (every problem at once). */
export function registerConfigCommands(program: Command): void {
  const config = program.command("config").description("the config file: its JSON Schema, and a check that lists every problem");
  config
    .command("schema")
    .description("print the JSON Schema (draft 2020-12) of a config file, generated from the schema swarm-mtls validates with")
    .addHelpText("after", "\nExample:\n  swarm-mtls config schema > swarm-mtls.schema.json   # then: # yaml-language-server: $schema=swarm-mtls.schema.json\n")
    .action(() => {
      process.stdout.write(`${JSON.stringify(configJsonSchema(VERSION), null, 2)}\n`);
    });
  config
    .command("check")
    .description("check a config file against the defaults and the schema; lists every problem, not only the first")
    .argument("<file>", "the YAML config file")
    .addHelpText("after", "\nExample:\n  swarm-mtls config check /etc/swarm-mtls/config.yaml\n")
    .action((file: string, _o: unknown, cmd: Command) => {
      const problems = configFileProblems(file);
      const report: ConfigCheckReport = { file, valid: problems.length === 0, problems };
      printResult(report, { json: cmd.optsWithGlobals<{ json?: boolean }>().json === true }, showConfigCheck);
      process.exitCode = report.valid ? 0 : 1;
    });
}

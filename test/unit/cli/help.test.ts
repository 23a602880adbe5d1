import { pathToFileURL } from "node:url";
import t from "tap";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, REPO, runCli } from "../../helpers/cli.js";
import type { buildProgram as BuildProgram } from "../../../src/cli/main.js";
import { lines } from "./fixtures/cli-sandbox.js";

const GLOBAL = ["--config", "--store", "--kek-file", "--json", "--log-level", "--version", "--help"];
/** What an operator of the file store relies on; the list below is checked against the help text users read. */
const EXPECTED: Record<string, string[]> = {
  init: ["--trust-domain", "--key-alg", "--root-ttl", "--intermediate-ttl", "--max-leaf-ttl", "--offline-root", "--root-passphrase-file", "--force"],
  issue: ["--dns", "--uri", "--stack", "--ttl", "--key-alg", "--uid", "--gid", "--out"],
  "ca show": [],
};

const PACKAGE_VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;

t.test("--version prints package.json's version", async (t) => {
  for (const flag of ["--version", "-V"]) {
    const r = await runCli([flag]);
    t.equal(r.code, 0, `${flag}: exit 0`);
    t.equal(r.stdout, `${PACKAGE_VERSION}\n`, `${flag}: prints ${PACKAGE_VERSION}`);
    t.equal(r.stderr, "", `${flag}: nothing on stderr`);
  }
});

t.test("program --help: exit 0, every global option and every command", async (t) => {
  const r = await runCli(["--help"]);
  t.equal(r.code, 0);
  t.equal(r.stderr, "");
  for (const o of GLOBAL) t.match(r.stdout, o, `mentions ${o}`);
  for (const c of ["init", "issue", "ca", "rotate", "status"]) t.match(r.stdout, new RegExp(`^  ${c}\\b`, "m"), `lists ${c}`);
});

t.test("--help on every command: exit 0, mentions each of its options", async (t) => {
  // Every command the program has (including those added later), from the same build the tests run.
  const { buildProgram } = (await import(pathToFileURL(CLI).href)) as { buildProgram: typeof BuildProgram };
  const program = buildProgram({});
  const commands: { path: string[]; options: string[] }[] = [];
  const walk = (cmd: ReturnType<typeof BuildProgram>, path: string[]): void => {
    for (const c of cmd.commands) {
      const p = [...path, c.name()];
      commands.push({ path: p, options: c.options.map((o) => o.long).filter((x): x is string => !!x) });
      walk(c, p);
    }
  };
  walk(program, []);
  t.ok(commands.length >= 5, `found ${commands.length} commands`);
  for (const [name, options] of Object.entries(EXPECTED)) {
    const found = commands.find((c) => c.path.join(" ") === name);
    t.ok(found, `${name} exists`);
    for (const o of options) t.ok(found?.options.includes(o), `${name} has ${o}`);
  }

  for (const c of commands) {
    const name = c.path.join(" ");
    const r = await runCli([...c.path, "--help"]);
    t.equal(r.code, 0, `${name} --help: exit 0`);
    t.equal(r.stderr, "", `${name} --help: nothing on stderr`);
    t.match(r.stdout, `Usage: swarm-mtls ${name}`, `${name} --help: usage line`);
    for (const o of c.options) t.match(r.stdout, o, `${name} --help mentions ${o}`);
    for (const o of ["--store", "--kek-file", "--json"]) t.match(r.stdout, o, `${name} --help mentions the global ${o}`);
    t.match(r.stdout, /Exit codes: \d/, `${name} --help lists its exit codes`);
  }

  const viaHelp = await runCli(["help", "issue"]);
  t.equal(viaHelp.code, 0, "help issue: exit 0");
  t.match(viaHelp.stdout, "Usage: swarm-mtls issue", "help issue: the issue help");
});

t.test("unknown command or option at the top: exit 2, one line", async (t) => {
  for (const args of [["isue", "web"], ["--bogus"], ["ca", "shwo"]]) {
    const r = await runCli(args);
    t.equal(r.code, 2, `${args.join(" ")}: exit 2`);
    t.equal(lines(r.stderr).length, 1, `${args.join(" ")}: one line on stderr`);
    t.match(r.stderr, args.find((a) => a !== "ca" && a !== "web") as string, `${args.join(" ")}: names it`);
  }
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { parse } from "yaml";
import { runCli } from "../../helpers/cli.js";
import { configJsonSchema } from "../../../src/config/json-schema.js";
import { configFileProblems } from "../../../src/config/load-config.js";

function tempFile(t: Test, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "config-check-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "config.yaml"), text);
  return join(dir, "config.yaml");
}

const BAD = "ca:\n  rootTtl: 10x\n  bogus: 1\nleaf:\n  renewBefore: 2\nschedule: { cron: nope }\n";

t.test("config check lists every problem of a file at once, exit 1; a valid file exits 0", async (t) => {
  const file = tempFile(t, BAD);
  const r = await runCli(["config", "check", file]);
  t.equal(r.code, 1);
  t.match(r.stdout, `${file}: 4 problems`);
  for (const p of ["ca.rootTtl: '10x' is not a duration", "unknown setting ca.bogus", "leaf.renewBefore: '2'", "schedule.cron: 'nope' is not a cron expression"]) t.match(r.stdout, p);
  const json = await runCli(["--json", "config", "check", file]);
  t.match(JSON.parse(json.stdout), { file, valid: false, problems: { length: 4 } });
  const ok = await runCli(["config", "check", tempFile(t, "ca: { trustDomain: example.org }\n")]);
  t.equal(ok.code, 0);
  t.match(ok.stdout, ": valid");
});

t.test("config check: a file that is not YAML or not there is one problem", async (t) => {
  t.match(configFileProblems(tempFile(t, "ca: [unclosed\n")), [/not valid YAML/]);
  t.match(configFileProblems("/nonexistent/config.yaml"), [/cannot be read \(ENOENT\)/]);
});

t.test("loading a config with several problems names them all", async (t) => {
  const file = tempFile(t, BAD);
  const r = await runCli(["--config", file, "ca", "show"]);
  t.equal(r.code, 2);
  t.match(r.stderr, "4 problems in the config");
  t.match(r.stderr, "unknown setting ca.bogus");
  t.match(r.stderr, "schedule.cron");
});

t.test("config schema: a JSON Schema generated from the zod schema; nothing required in a file", async (t) => {
  const r = await runCli(["config", "schema"]);
  t.equal(r.code, 0);
  const schema = JSON.parse(r.stdout) as ReturnType<typeof configJsonSchema>;
  t.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  t.same(schema, configJsonSchema(JSON.parse(r.stdout).title.match(/\((.*)\)/)[1]));
  const props = schema.properties as Record<string, { properties?: Record<string, unknown>; additionalProperties?: unknown; required?: unknown }>;
  const defaults = parse((await import("node:fs")).readFileSync(join(import.meta.dirname, "../../../config/default.yaml"), "utf8")) as Record<string, unknown>;
  t.same(Object.keys(props).sort(), Object.keys(defaults).sort(), "every top-level setting of default.yaml, no more");
  t.equal(schema.additionalProperties, false, "unknown settings are errors, as in config check");
  t.equal(schema.required, undefined);
  t.equal(props.ca?.required, undefined, "a section may be partial");
  t.same(props.ca?.properties?.keyAlgorithm, { type: "string", enum: ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072"] });
});

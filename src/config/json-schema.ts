import { z } from "zod";
import { configSchema } from "./schema.js";

type JsonSchema = { [k: string]: unknown; properties?: Record<string, JsonSchema>; required?: string[] };

/**
 * The JSON Schema (draft 2020-12) of a config FILE, generated from the zod schema the program validates with, for
 * editors (`# yaml-language-server: $schema=…`) and CI. A file may leave out any setting (the defaults fill it), so
 * nothing is required at the top level or in the sections; inside a list entry (an identity) the entry's own required
 * fields stay. What JSON Schema cannot say (durations parse, cron expressions) `config check` checks. Pure.
 */
export function configJsonSchema(version: string): JsonSchema {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  delete schema.required;
  for (const section of Object.values(schema.properties ?? {})) delete section.required;
  return {
    $schema: schema.$schema,
    $id: `https://swarm-mtls.invalid/schema/config-${version}.json`,
    title: `swarm-mtls configuration (${version})`,
    description: "A swarm-mtls config file (--config FILE): every setting is optional; config/default.yaml holds the defaults.",
    ...schema,
  };
}

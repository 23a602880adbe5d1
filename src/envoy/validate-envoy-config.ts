/**
 * `validateEnvoyConfig`: an Envoy v3 bootstrap checked against Envoy's own API protos (strict schema
 * walk) and, by default, the lint for what the schema cannot say. `checkEnvoyFile` does the same for the
 * text of a YAML or JSON file (`swarm-mtls envoy check FILE`).
 */
import type protobuf from "protobufjs";
import { parse as parseYaml } from "yaml";
import { envoyProtoRoot } from "./envoy-proto-root.js";
import { EnvoySchemaWalk, type EnvoyFinding } from "./envoy-schema-walk.js";
import { lintEnvoyConfig } from "./lint-envoy-config.js";

export type { EnvoyFinding } from "./envoy-schema-walk.js";

export interface EnvoyValidationResult {
  /** Problems Envoy would reject the config for (or that break it at runtime). Empty = valid. */
  errors: EnvoyFinding[];
  /** Deprecated fields and weak security posture; the config loads. */
  warnings: EnvoyFinding[];
}

export interface EnvoyConfigValidateParams {
  /** Run the lint (cluster references, terminal filters, admin on loopback, mTLS posture); default true. */
  lint?: boolean;
  /** Message the config is an instance of; default `envoy.config.bootstrap.v3.Bootstrap`. */
  typeName?: string;
  /** Proto type database; default the process-wide Root loaded from `@grpc/grpc-js-xds/deps`. */
  root?: protobuf.Root;
}

export const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";

export function validateEnvoyConfig(config: unknown, p: EnvoyConfigValidateParams = {}): EnvoyValidationResult {
  const root = p.root ?? envoyProtoRoot();
  const walk = new EnvoySchemaWalk(root).run(p.typeName ?? BOOTSTRAP_TYPE, config);
  const errors = [...walk.errors];
  const warnings = [...walk.warnings];
  if (p.lint ?? true) {
    const lint = lintEnvoyConfig(config, walk.visited);
    errors.push(...lint.errors);
    warnings.push(...lint.warnings);
  }
  return { errors, warnings };
}

/**
 * Parse YAML or JSON text (JSON is YAML) and validate it as a bootstrap. A text that does not parse is
 * reported as one error at path "(file)"; YAML is read with 1.1 semantics, like Envoy's parser, so a bare
 * `yes`/`on` becomes a boolean here too.
 */
export function checkEnvoyFile(text: string, p: EnvoyConfigValidateParams = {}): EnvoyValidationResult {
  let config: unknown;
  try {
    config = parseYaml(text, { version: "1.1", prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    const message = e instanceof Error ? e.message.split("\n")[0] ?? e.message : String(e);
    return { errors: [{ path: "(file)", message: `not valid YAML or JSON: ${message}` }], warnings: [] };
  }
  if (config === null || config === undefined) return { errors: [{ path: "(file)", message: "the file is empty" }], warnings: [] };
  return validateEnvoyConfig(config, p);
}

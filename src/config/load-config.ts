import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { badInput, MtlsError, printable } from "../errors.js";
import { parseDuration } from "./duration.js";
import { closestMatch } from "../closest-match.js";
import { configSchema, type ConfigFile } from "./schema.js";

/** Where the packaged defaults live, next to src/ or dist/src/. */
export function defaultConfigPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "config", "default.yaml");
    try {
      readFileSync(candidate);
      return candidate;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new MtlsError("internal", "config/default.yaml not found next to the program");
}

/** The resolved configuration: the file's values plus durations in seconds and the store spelled out. */
export interface Config extends ConfigFile {
  seconds: {
    rootTtl: number;
    intermediateTtl: number;
    maxLeafTtl: number;
    leafTtl: number;
    rotationTimeout: number;
    leaseTtl: number;
    /** rotation.retryBackoff / retryBackoffMax: serve's wait before retrying a service whose rollout failed. */
    retryBackoff: number;
    retryBackoffMax: number;
    /** sds.bootstrapTtl: lifetime of the bootstrap certificate of a service in SDS mode. */
    sdsBootstrapTtl: number;
  };
  /** Sources that contributed, for `--help`-level troubleshooting ("default", file path, "env", "flags"). */
  sources: string[];
}

export interface ConfigLoadParams {
  /** Config file given by --config (or SWARM_MTLS_CONFIG); default none. */
  file?: string;
  /** Environment to read SWARM_MTLS_* from; default none (callers pass process.env explicitly). */
  env?: Record<string, string | undefined>;
  /** Overrides from flags, as dotted paths ("ca.trustDomain") to values; undefined values are ignored. */
  flags?: Record<string, unknown>;
  /** Defaults file; default config/default.yaml shipped with the program. */
  defaultsFile?: string;
}

type Tree = Record<string, unknown>;

/** SWARM_MTLS_* variables that are not settings (see loadConfig). */
export const NOT_SETTINGS = /^SWARM_MTLS_(CONFIG|API_PORT|NO_SANDBOX|TEST_[A-Z0-9_]+)$/;

function isTree(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readYamlFile(path: string, what: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badInput(`${what} ${path}: cannot be read (${code ?? "error"})`, e);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw badInput(`${what} ${path}: not valid YAML: ${(e as Error).message.split("\n")[0]}`, e);
  }
  if (doc === null || doc === undefined) return {};
  if (!isTree(doc)) throw badInput(`${what} ${path}: must be a mapping of settings`);
  return doc;
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isTree(v) && isTree(out[k]) ? merge(out[k] as Tree, v) : v;
  }
  return out;
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1] as string] = value;
}

function getPath(tree: Tree, path: string[]): unknown {
  let node: unknown = tree;
  // Arrays too: a problem in `identities[0].ttl` shows the value given, not "missing".
  for (const key of path) node = isTree(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

const toSnake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

/** Every leaf setting path of the defaults, with its environment variable name. */
export function environmentNames(defaults: Tree, prefix: string[] = []): { path: string[]; env: string }[] {
  const out: { path: string[]; env: string }[] = [];
  for (const [k, v] of Object.entries(defaults)) {
    const path = [...prefix, k];
    if (isTree(v)) out.push(...environmentNames(v, path));
    else out.push({ path, env: `SWARM_MTLS_${path.map(toSnake).join("_")}` });
  }
  return out;
}

/** Environment values are text; coerce them to the type of the default they override. */
function coerceEnv(raw: string, like: unknown, env: string): unknown {
  if (typeof like === "number") {
    const n = Number(raw);
    if (raw.trim() === "" || Number.isNaN(n)) throw badInput(`config: ${env}='${printable(raw)}' is not a number`);
    return n;
  }
  if (typeof like === "boolean") {
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    throw badInput(`config: ${env}='${printable(raw)}' is not true/false`);
  }
  if (Array.isArray(like)) {
    const t = raw.trim();
    if (t.startsWith("[")) {
      try {
        return JSON.parse(t);
      } catch (e) {
        throw badInput(`config: ${env} is not a JSON list`, e);
      }
    }
    return t === "" ? [] : t.split(",").map((x) => x.trim());
  }
  return raw;
}

function describeIssue(issue: z.core.$ZodIssue, merged: Tree): string {
  const path = issue.path.map(String);
  const where = path.join(".") || "(top level)";
  if (issue.code === "unrecognized_keys") {
    const keys = (issue as { keys: string[] }).keys;
    return `config: unknown setting ${keys.map((k) => (path.length ? `${where}.${k}` : k)).join(", ")}`;
  }
  const value = getPath(merged, path);
  const shown = value === undefined ? "missing" : `'${printable(typeof value === "object" ? JSON.stringify(value) : value)}'`;
  return `config: ${where}: ${shown} ${issue.message}`;
}

/**
 * Every problem of one config file, all at once (not only the first): unreadable or not YAML, unknown settings,
 * values out of range. Environment variables and flags play no part. Empty when the file is valid.
 */
export function configFileProblems(file: string, defaultsFile?: string): string[] {
  let merged: Tree;
  try {
    merged = merge(readYamlFile(defaultsFile ?? defaultConfigPath(), "defaults file"), readYamlFile(resolve(file), "config file"));
  } catch (e) {
    return [(e as Error).message];
  }
  const parsed = configSchema.safeParse(merged);
  return parsed.success ? [] : parsed.error.issues.map((i) => describeIssue(i, merged));
}

/**
 * Reads the configuration once, at start: defaults, then the file, then SWARM_MTLS_* environment variables, then
 * flags. Throws MtlsError("bad-input") naming the field and the value of every problem.
 */
export function loadConfig(p: ConfigLoadParams = {}): Config {
  const defaults = readYamlFile(p.defaultsFile ?? defaultConfigPath(), "defaults file");
  const sources = ["defaults"];
  let merged = defaults;
  const file = p.file ?? p.env?.SWARM_MTLS_CONFIG;
  if (file) {
    merged = merge(merged, readYamlFile(resolve(file), "config file"));
    sources.push(resolve(file));
  }
  const env = p.env ?? {};
  let fromEnv = false;
  for (const { path, env: name } of environmentNames(defaults)) {
    const raw = env[name];
    if (raw === undefined) continue;
    setPath(merged, path, coerceEnv(raw, getPath(defaults, path), name));
    fromEnv = true;
  }
  if (fromEnv) sources.push("env");
  // A misspelt variable must not silently become a default, as an unknown config-file key does not. Variables that are
  // not settings: SWARM_MTLS_CONFIG (the file), SWARM_MTLS_API_PORT (substituted by `docker stack deploy` in the
  // stack file), SWARM_MTLS_NO_SANDBOX (scripts/test.sh) and SWARM_MTLS_TEST_* (tests).
  const settingNames = environmentNames(defaults).map((e) => e.env);
  for (const name of Object.keys(env)) {
    if (!name.startsWith("SWARM_MTLS_") || env[name] === undefined || settingNames.includes(name) || NOT_SETTINGS.test(name)) continue;
    const near = closestMatch(name, settingNames);
    throw badInput(`config: unknown environment variable ${name}${near ? ` (did you mean ${near}?)` : ""}`);
  }
  let fromFlags = false;
  for (const [dotted, value] of Object.entries(p.flags ?? {})) {
    if (value === undefined) continue;
    setPath(merged, dotted.split("."), value);
    fromFlags = true;
  }
  if (fromFlags) sources.push("flags");

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => describeIssue(i, merged));
    throw badInput(problems.length === 1 ? (problems[0] as string) : `${problems.length} problems in the config:\n  ${problems.join("\n  ")}`);
  }
  const c = parsed.data;
  return {
    ...c,
    seconds: {
      rootTtl: parseDuration(c.ca.rootTtl, "ca.rootTtl"),
      intermediateTtl: parseDuration(c.ca.intermediateTtl, "ca.intermediateTtl"),
      maxLeafTtl: parseDuration(c.ca.maxLeafTtl, "ca.maxLeafTtl"),
      leafTtl: parseDuration(c.leaf.ttl, "leaf.ttl"),
      rotationTimeout: parseDuration(c.rotation.timeout, "rotation.timeout"),
      leaseTtl: parseDuration(c.rotation.leaseTtl, "rotation.leaseTtl"),
      retryBackoff: parseDuration(c.rotation.retryBackoff, "rotation.retryBackoff"),
      retryBackoffMax: parseDuration(c.rotation.retryBackoffMax, "rotation.retryBackoffMax"),
      sdsBootstrapTtl: parseDuration(c.sds.bootstrapTtl, "sds.bootstrapTtl"),
    },
    sources,
  };
}

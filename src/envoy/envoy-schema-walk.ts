/**
 * Strict validation of an Envoy config (as parsed JSON/YAML) against Envoy's own API protos.
 *
 * protobufjs is used only as the type database: its `fromObject`/`verify` drop unknown fields, coerce
 * types and empty out an `Any` with an unknown `@type`, so this module walks the JSON itself, the way
 * Envoy's loader does: proto3-JSON rules for scalars, enums and well-known types; unknown fields are
 * errors; every `Any` is resolved, checked against the slot it sits in and validated recursively; and
 * the protoc-gen-validate rules in the field options (`(validate.rules)`, `(validate.required)`) apply.
 */
import { isIP } from "node:net";
import protobuf from "protobufjs";
import { closestMatch } from "../closest-match.js";

/** One problem found in a config, located by a path like `static_resources.listeners[0].name`. */
export interface EnvoyFinding {
  path: string;
  message: string;
}

/** A message the walk visited, with its (snake or camel keyed) JSON value; the lint works from these. */
export interface VisitedMessage {
  /** Full proto name without the leading dot, e.g. `envoy.config.cluster.v3.Cluster`. */
  type: string;
  value: Record<string, unknown>;
  path: string;
}

export interface SchemaWalkResult {
  errors: EnvoyFinding[];
  warnings: EnvoyFinding[];
  visited: VisitedMessage[];
}

type Json = unknown;
type Rules = Record<string, any>;

/** Extension categories, by proto package prefix (the longest matching prefix wins). */
const CATEGORIES: ReadonlyArray<readonly [prefix: string, label: string]> = [
  ["envoy.extensions.filters.network.", "network filter"],
  ["envoy.extensions.filters.http.", "HTTP filter"],
  ["envoy.extensions.filters.listener.", "listener filter"],
  ["envoy.extensions.filters.udp.", "UDP listener filter"],
  ["envoy.extensions.transport_sockets.", "transport socket"],
  ["envoy.extensions.access_loggers.filters.", "access log filter"],
  ["envoy.extensions.access_loggers.", "access logger"],
  ["envoy.extensions.upstreams.", "upstream protocol options"],
  ["envoy.extensions.resource_monitors.", "resource monitor"],
  ["envoy.extensions.health_checkers.", "health checker"],
  ["envoy.extensions.clusters.", "cluster extension"],
  ["envoy.extensions.stat_sinks.", "stats sink"],
  ["envoy.config.metrics.", "stats sink"],
  ["envoy.extensions.tracers.", "tracer"],
  ["envoy.config.trace.", "tracer"],
];

/** Which extension categories an `Any` field accepts: key `<message full name>.<field>`. Unlisted slots take any known type. */
const SLOTS: Record<string, string[]> = {
  "envoy.config.listener.v3.Filter.typed_config": ["envoy.extensions.filters.network."],
  "envoy.config.listener.v3.ListenerFilter.typed_config": ["envoy.extensions.filters.listener."],
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter.typed_config": ["envoy.extensions.filters.http."],
  "envoy.config.core.v3.TransportSocket.typed_config": ["envoy.extensions.transport_sockets."],
  "envoy.config.accesslog.v3.AccessLog.typed_config": ["envoy.extensions.access_loggers."],
  "envoy.config.accesslog.v3.ExtensionFilter.typed_config": ["envoy.extensions.access_loggers.filters."],
  "envoy.config.cluster.v3.Cluster.typed_extension_protocol_options": ["envoy.extensions.upstreams.", "envoy.extensions.filters.network."],
  "envoy.config.overload.v3.ResourceMonitor.typed_config": ["envoy.extensions.resource_monitors."],
  "envoy.config.core.v3.HealthCheck.CustomHealthCheck.typed_config": ["envoy.extensions.health_checkers."],
  "envoy.config.cluster.v3.Cluster.CustomClusterType.typed_config": ["envoy.extensions.clusters."],
  "envoy.config.metrics.v3.StatsSink.typed_config": ["envoy.extensions.stat_sinks.", "envoy.config.metrics."],
  "envoy.config.trace.v3.Tracing.Http.typed_config": ["envoy.extensions.tracers.", "envoy.config.trace."],
  "envoy.config.route.v3.VirtualHost.typed_per_filter_config": ["envoy.extensions.filters.http."],
  "envoy.config.route.v3.Route.typed_per_filter_config": ["envoy.extensions.filters.http."],
  "envoy.config.route.v3.WeightedCluster.ClusterWeight.typed_per_filter_config": ["envoy.extensions.filters.http."],
};
/** Per-route filter config may also be the generic wrapper. */
const SLOT_EXTRA_TYPES: Record<string, string[]> = {
  "envoy.config.route.v3.VirtualHost.typed_per_filter_config": ["envoy.config.route.v3.FilterConfig"],
  "envoy.config.route.v3.Route.typed_per_filter_config": ["envoy.config.route.v3.FilterConfig"],
  "envoy.config.route.v3.WeightedCluster.ClusterWeight.typed_per_filter_config": ["envoy.config.route.v3.FilterConfig"],
};

const TYPED_STRUCTS = new Set(["xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"]);

const WRAPPERS: Record<string, string> = {
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};

const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.FieldMask",
  "google.protobuf.Empty",
  "google.protobuf.Any",
]);

const INT_RANGES: Record<string, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

const isObject = (v: Json): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const stripDot = (n: string) => (n.startsWith(".") ? n.slice(1) : n);
const describe = (v: Json) => (Array.isArray(v) ? "a list" : v === null ? "null" : typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`);

/** proto3 JSON name (lowerCamelCase) of a proto field name. */
export function jsonNameOf(fieldName: string): string {
  return fieldName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Merge every `(validate.rules)` entry of an option list into one rules object. */
function mergeOptions(parsed: Array<Record<string, any>> | undefined, key: string): any {
  let out: any;
  for (const entry of parsed ?? []) {
    if (!(key in entry)) continue;
    out = deepMerge(out, entry[key]);
  }
  return out;
}

function deepMerge(a: any, b: any): any {
  if (isObject(a) && isObject(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? deepMerge(out[k], v) : v;
    return out;
  }
  return b;
}

function hasOption(obj: protobuf.ReflectionObject, key: string): boolean {
  if (obj.options?.[key] === true) return true;
  return (obj.parsedOptions ?? []).some((e) => e[key] === true);
}

function categoryOf(typeName: string): readonly [string, string] | undefined {
  let best: readonly [string, string] | undefined;
  for (const c of CATEGORIES) if (typeName.startsWith(c[0]) && (!best || c[0].length > best[0].length)) best = c;
  return best;
}

function categoryLabel(prefix: string): string {
  return CATEGORIES.find((c) => c[0] === prefix)?.[1] ?? prefix;
}

const typeNameCache = new WeakMap<protobuf.Root, string[]>();
function allTypeNames(root: protobuf.Root): string[] {
  let names = typeNameCache.get(root);
  if (!names) {
    names = [];
    const visit = (ns: protobuf.NamespaceBase) => {
      for (const child of ns.nestedArray) {
        if (child instanceof protobuf.Type) names!.push(stripDot(child.fullName));
        if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) visit(child);
      }
    };
    visit(root);
    typeNameCache.set(root, names);
  }
  return names;
}

function parseDurationNanos(s: string): bigint | undefined {
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(s);
  if (!m) return undefined;
  const seconds = BigInt(m[2] as string);
  if (seconds > 315576000000n) return undefined;
  const nanos = BigInt(((m[3] ?? "") + "000000000").slice(0, 9));
  const total = seconds * 1_000_000_000n + nanos;
  return m[1] ? -total : total;
}

function ruleDurationNanos(d: any): bigint {
  const seconds = BigInt(String(d?.seconds ?? 0));
  const nanos = BigInt(String(d?.nanos ?? 0));
  return seconds * 1_000_000_000n + nanos;
}

function formatNanos(n: bigint): string {
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const s = abs / 1_000_000_000n;
  const frac = abs % 1_000_000_000n;
  const fracText = frac === 0n ? "" : "." + frac.toString().padStart(9, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${s}${fracText}s`;
}

const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// eslint-disable-next-line no-control-regex
const HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// eslint-disable-next-line no-control-regex
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

/** A message's fields by proto name and by JSON name (a `json_name` option, or the camelCase default). */
function fieldsByName(type: protobuf.Type): Map<string, protobuf.Field> {
  const byName = new Map<string, protobuf.Field>();
  for (const field of type.fieldsArray) {
    byName.set(field.name, field);
    const custom = mergeOptions(field.parsedOptions, "json_name");
    byName.set(typeof custom === "string" ? custom : jsonNameOf(field.name), field);
  }
  return byName;
}

/** A walk over one config; collects findings and the messages it visited. */
export class EnvoySchemaWalk {
  readonly errors: EnvoyFinding[] = [];
  readonly warnings: EnvoyFinding[] = [];
  readonly visited: VisitedMessage[] = [];

  constructor(private readonly root: protobuf.Root) {}

  private error(path: string, message: string) {
    this.errors.push({ path: path || "(root)", message });
  }
  private warn(path: string, message: string) {
    this.warnings.push({ path: path || "(root)", message });
  }

  /** Validate `value` as the JSON form of message `typeName`. */
  run(typeName: string, value: Json): SchemaWalkResult {
    const type = this.root.lookupType(typeName);
    this.message(type, value, "");
    return { errors: this.errors, warnings: this.warnings, visited: this.visited };
  }

  private message(type: protobuf.Type, value: Json, path: string, slot?: string, skipKey?: string): void {
    const name = stripDot(type.fullName);
    if (SPECIAL_JSON.has(name)) {
      this.wellKnown(name, value, path, slot);
      return;
    }
    if (!isObject(value)) {
      this.error(path, `expected an object (${name}), got ${describe(value)}`);
      return;
    }
    this.visited.push({ type: name, value, path });
    const present = this.givenFields(type, value, path, skipKey);
    this.oneofs(type, present, path);
    this.absentFields(type, present, path);
  }

  /** Each key of `value` checked against the message's fields (proto name or JSON name); returns the fields set. */
  private givenFields(type: protobuf.Type, value: Record<string, unknown>, path: string, skipKey?: string): Map<protobuf.Field, string> {
    const name = stripDot(type.fullName);
    const byName = fieldsByName(type);
    const present = new Map<protobuf.Field, string>();
    for (const [key, v] of Object.entries(value)) {
      if (key === skipKey) continue;
      const fieldPath = path ? `${path}.${key}` : key;
      const field = byName.get(key);
      if (!field) {
        const hint = closestMatch(key, type.fieldsArray.map((f) => f.name));
        this.error(fieldPath, `unknown field "${key}" in ${name}${hint ? `; did you mean "${hint}"?` : ""}`);
        continue;
      }
      if (present.has(field)) {
        this.error(fieldPath, `field "${field.name}" is given twice (as "${present.get(field)}" and "${key}")`);
        continue;
      }
      if (v === null) continue; // proto3 JSON: null means "not set"
      present.set(field, key);
      this.deprecation(field, name, fieldPath);
      this.field(type, field, v, fieldPath);
    }
    return present;
  }

  private deprecation(field: protobuf.Field, typeName: string, fieldPath: string): void {
    if (!hasOption(field, "deprecated")) return;
    if (hasOption(field, "(envoy.annotations.disallowed_by_default)")) {
      this.error(fieldPath, `field "${field.name}" of ${typeName} is deprecated and disallowed by default`);
    } else {
      this.warn(fieldPath, `field "${field.name}" of ${typeName} is deprecated`);
    }
  }

  /** Oneofs: at most one member; `(validate.required)` oneofs exactly one. */
  private oneofs(type: protobuf.Type, present: Map<protobuf.Field, string>, path: string): void {
    const name = stripDot(type.fullName);
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => present.has(f));
      if (set.length > 1) {
        this.error(path, `only one of ${set.map((f) => `"${f.name}"`).join(", ")} may be set (oneof ${oneof.name} in ${name})`);
      } else if (set.length === 0 && hasOption(oneof, "(validate.required)")) {
        this.error(path, `one of ${oneof.fieldsArray.map((f) => `"${f.name}"`).join(", ")} is required in ${name}`);
      }
    }
  }

  /** Rules on fields that are absent: proto3 scalars are validated at their default value. */
  private absentFields(type: protobuf.Type, present: Map<protobuf.Field, string>, path: string): void {
    for (const field of type.fieldsArray) {
      if (present.has(field)) continue;
      if (field.partOf) continue; // unset oneof member (or proto3 optional): not validated
      const rules: Rules | undefined = mergeOptions(field.parsedOptions, "(validate.rules)");
      if (!rules) continue;
      this.absent(field, rules, path ? `${path}.${field.name}` : field.name);
    }
  }

  private absent(field: protobuf.Field, rules: Rules, path: string): void {
    const missing = `required field "${field.name}" is missing`;
    if (field.map) {
      const r = rules.map;
      if (r?.min_pairs > 0 && !r.ignore_empty) this.error(path, `${missing} (needs at least ${r.min_pairs} entr${r.min_pairs === 1 ? "y" : "ies"})`);
      return;
    }
    if (field.repeated) {
      const r = rules.repeated;
      if (r?.min_items > 0 && !r.ignore_empty) this.error(path, `${missing} (needs at least ${r.min_items} item${r.min_items === 1 ? "" : "s"})`);
      return;
    }
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      if (rules.message?.required || rules.duration?.required || rules.timestamp?.required || rules.any?.required) this.error(path, missing);
      return;
    }
    // Scalar or enum at its default value.
    const before = this.errors.length;
    if (resolved instanceof protobuf.Enum) this.enumRules(resolved, 0, rules.enum, path);
    else this.scalarRules(field.type, defaultOf(field.type), rules, path);
    if (this.errors.length > before) {
      for (let i = before; i < this.errors.length; i++) {
        const e = this.errors[i] as EnvoyFinding;
        e.message = `${missing}: ${e.message}`;
      }
    }
  }

  private field(parent: protobuf.Type, field: protobuf.Field, v: Json, path: string): void {
    const rules: Rules = mergeOptions(field.parsedOptions, "(validate.rules)") ?? {};
    const slot = `${stripDot(parent.fullName)}.${field.name}`;
    if (field.map) {
      if (!isObject(v)) {
        this.error(path, `expected an object (map), got ${describe(v)}`);
        return;
      }
      const entries = Object.entries(v);
      const r = rules.map ?? {};
      if (!(r.ignore_empty && entries.length === 0)) {
        if (r.min_pairs !== undefined && entries.length < r.min_pairs) this.error(path, `needs at least ${r.min_pairs} entries, has ${entries.length}`);
        if (r.max_pairs !== undefined && entries.length > r.max_pairs) this.error(path, `takes at most ${r.max_pairs} entries, has ${entries.length}`);
      }
      const keyType = (field as unknown as protobuf.MapField).keyType;
      for (const [k, item] of entries) {
        const itemPath = /^[A-Za-z_][\w]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
        this.mapKey(keyType, k, itemPath, r.keys);
        this.single(field, item, itemPath, r.values ?? {}, slot);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(v)) {
        this.error(path, `expected a list, got ${describe(v)}`);
        return;
      }
      const r = rules.repeated ?? {};
      if (!(r.ignore_empty && v.length === 0)) {
        if (r.min_items !== undefined && v.length < r.min_items) this.error(path, `needs at least ${r.min_items} item${r.min_items === 1 ? "" : "s"}, has ${v.length}`);
        if (r.max_items !== undefined && v.length > r.max_items) this.error(path, `takes at most ${r.max_items} items, has ${v.length}`);
        if (r.unique) {
          const seen = new Set(v.map((x) => JSON.stringify(x)));
          if (seen.size !== v.length) this.error(path, "items must be unique");
        }
      }
      v.forEach((item, i) => {
        if (item === null) {
          this.error(`${path}[${i}]`, "list items cannot be null");
          return;
        }
        this.single(field, item, `${path}[${i}]`, r.items ?? {}, slot);
      });
      return;
    }
    this.single(field, v, path, rules, slot);
  }

  private mapKey(keyType: string, k: string, path: string, rules: Rules | undefined): void {
    if (keyType === "bool") {
      if (k !== "true" && k !== "false") this.error(path, `map key must be "true" or "false", got "${k}"`);
      return;
    }
    if (keyType in INT_RANGES) {
      if (!/^-?\d+$/.test(k)) this.error(path, `map key must be an integer, got "${k}"`);
      return;
    }
    if (rules) this.scalarRules(keyType, k, rules, path);
  }

  /** One value of a field (a singular field, a list item or a map value). */
  private single(field: protobuf.Field, v: Json, path: string, rules: Rules, slot: string): void {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) {
      const n = this.enumValue(resolved, v, path);
      if (n !== undefined) this.enumRules(resolved, n, rules.enum, path);
      return;
    }
    if (resolved instanceof protobuf.Type) {
      const name = stripDot(resolved.fullName);
      if (name in WRAPPERS) {
        const scalar = WRAPPERS[name] as string;
        const parsed = this.scalar(scalar, v, path);
        if (parsed !== undefined) this.scalarRules(scalar, parsed, rules, path);
        return;
      }
      if (name === "google.protobuf.Duration") {
        if (typeof v !== "string") {
          this.error(path, `expected a duration string like "1.5s", got ${describe(v)}`);
          return;
        }
        const nanos = parseDurationNanos(v);
        if (nanos === undefined) {
          this.error(path, `"${v}" is not a valid duration: use seconds with an "s" suffix, like "1s" or "0.250s"`);
          return;
        }
        this.durationRules(nanos, rules.duration, path);
        return;
      }
      if (name === "google.protobuf.Any") {
        this.any(v, path, slot, rules.any);
        return;
      }
      this.message(resolved, v, path, slot);
      return;
    }
    const parsed = this.scalar(field.type, v, path);
    if (parsed !== undefined) this.scalarRules(field.type, parsed, rules, path);
  }

  /** proto3 JSON scalar; returns the parsed value (bigint for integers) or undefined after an error. */
  private scalar(kind: string, v: Json, path: string): string | number | bigint | boolean | undefined {
    if (kind === "bool") {
      if (typeof v !== "boolean") {
        this.error(path, `expected true or false, got ${describe(v)}`);
        return undefined;
      }
      return v;
    }
    if (kind === "string") {
      if (typeof v !== "string") {
        this.error(path, `expected a string, got ${describe(v)}`);
        return undefined;
      }
      return v;
    }
    if (kind === "bytes") {
      if (typeof v !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) {
        this.error(path, `expected base64 bytes, got ${describe(v)}`);
        return undefined;
      }
      return v;
    }
    if (kind === "double" || kind === "float") {
      if (typeof v === "number") return v;
      if (typeof v === "string" && (v === "NaN" || v === "Infinity" || v === "-Infinity" || (v.trim() !== "" && Number.isFinite(Number(v))))) return Number(v);
      this.error(path, `expected a number, got ${describe(v)}`);
      return undefined;
    }
    const range = INT_RANGES[kind];
    if (range) {
      let n: bigint | undefined;
      if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
      else if (typeof v === "string" && /^-?\d+$/.test(v)) n = BigInt(v);
      if (n === undefined) {
        this.error(path, `expected an integer (${kind}), got ${describe(v)}`);
        return undefined;
      }
      if (n < range[0] || n > range[1]) {
        this.error(path, `${n} is out of range for ${kind}`);
        return undefined;
      }
      return n;
    }
    this.error(path, `unsupported field type ${kind}`);
    return undefined;
  }

  private enumValue(e: protobuf.Enum, v: Json, path: string): number | undefined {
    const name = stripDot(e.fullName);
    if (typeof v === "string") {
      const n = e.values[v];
      if (n === undefined) {
        const hint = closestMatch(v, Object.keys(e.values));
        this.error(path, `"${v}" is not a value of enum ${name} (one of ${Object.keys(e.values).join(", ")})${hint ? `; did you mean "${hint}"?` : ""}`);
        return undefined;
      }
      const opts = e.valuesOptions?.[v];
      if (opts?.["(envoy.annotations.disallowed_by_default_enum)"] === true) this.error(path, `enum value ${v} of ${name} is deprecated and disallowed by default`);
      else if (opts?.deprecated === true) this.warn(path, `enum value ${v} of ${name} is deprecated`);
      return n;
    }
    if (typeof v === "number" && Number.isInteger(v)) return v;
    this.error(path, `expected an enum name of ${name}, got ${describe(v)}`);
    return undefined;
  }

  private enumRules(e: protobuf.Enum, n: number, r: Rules | undefined, path: string): void {
    if (!r) return;
    const defined = Object.values(e.values).includes(n);
    if (r.defined_only && !defined) this.error(path, `${n} is not a defined value of enum ${stripDot(e.fullName)}`);
    if (r.const !== undefined && n !== r.const) this.error(path, `must be ${nameOfEnum(e, r.const)}`);
    if (Array.isArray(r.in) && !r.in.includes(n)) this.error(path, `must be one of ${r.in.map((x: number) => nameOfEnum(e, x)).join(", ")}`);
    if (Array.isArray(r.not_in) && r.not_in.includes(n)) this.error(path, `must not be ${nameOfEnum(e, n)}`);
  }

  private durationRules(nanos: bigint, r: Rules | undefined, path: string): void {
    if (!r) return;
    const cmp = (key: string, ok: (limit: bigint) => boolean, words: string) => {
      if (r[key] === undefined) return true;
      const limit = ruleDurationNanos(r[key]);
      if (!ok(limit)) {
        this.error(path, `duration ${formatNanos(nanos)} must be ${words} ${formatNanos(limit)}`);
        return false;
      }
      return true;
    };
    if (r.const !== undefined) cmp("const", (l) => nanos === l, "exactly");
    cmp("gt", (l) => nanos > l, "greater than");
    cmp("gte", (l) => nanos >= l, "at least");
    cmp("lt", (l) => nanos < l, "less than");
    cmp("lte", (l) => nanos <= l, "at most");
  }

  private scalarRules(kind: string, value: string | number | bigint | boolean, rules: Rules, path: string): void {
    const r: Rules | undefined = rules[kind];
    if (!r) return;
    if (kind === "string" && typeof value === "string") {
      this.stringRules(value, r, path);
      return;
    }
    if (kind === "bool") {
      if (r.const !== undefined && value !== r.const) this.error(path, `must be ${r.const}`);
      return;
    }
    if (kind === "bytes") return;
    if (typeof value === "number") {
      if (r.ignore_empty && value === 0) return;
      if (r.const !== undefined && value !== r.const) this.error(path, `must be ${r.const}`);
      if (r.gt !== undefined && !(value > r.gt)) this.error(path, `${value} must be greater than ${r.gt}`);
      if (r.gte !== undefined && !(value >= r.gte)) this.error(path, `${value} must be at least ${r.gte}`);
      if (r.lt !== undefined && !(value < r.lt)) this.error(path, `${value} must be less than ${r.lt}`);
      if (r.lte !== undefined && !(value <= r.lte)) this.error(path, `${value} must be at most ${r.lte}`);
      return;
    }
    if (typeof value === "bigint") {
      if (r.ignore_empty && value === 0n) return;
      const b = (x: unknown) => BigInt(String(x));
      if (r.const !== undefined && value !== b(r.const)) this.error(path, `must be ${r.const}`);
      if (r.gt !== undefined && !(value > b(r.gt))) this.error(path, `${value} must be greater than ${r.gt}`);
      if (r.gte !== undefined && !(value >= b(r.gte))) this.error(path, `${value} must be at least ${r.gte}`);
      if (r.lt !== undefined && !(value < b(r.lt))) this.error(path, `${value} must be less than ${r.lt}`);
      if (r.lte !== undefined && !(value <= b(r.lte))) this.error(path, `${value} must be at most ${r.lte}`);
      if (Array.isArray(r.in) && !r.in.map(b).includes(value)) this.error(path, `${value} must be one of ${r.in.join(", ")}`);
      if (Array.isArray(r.not_in) && r.not_in.map(b).includes(value)) this.error(path, `${value} is not allowed`);
    }
  }

  private stringRules(s: string, r: Rules, path: string): void {
    if (r.ignore_empty && s === "") return;
    const chars = [...s].length;
    const bytes = Buffer.byteLength(s, "utf8");
    const show = JSON.stringify(s.length > 60 ? s.slice(0, 57) + "..." : s);
    if (r.const !== undefined && s !== r.const) this.error(path, `must be "${r.const}"`);
    if (r.len !== undefined && chars !== Number(r.len)) this.error(path, `${show} must be exactly ${r.len} characters`);
    if (r.min_len !== undefined && chars < Number(r.min_len)) {
      this.error(path, Number(r.min_len) === 1 ? `must not be empty` : `${show} must be at least ${r.min_len} characters`);
    }
    if (r.max_len !== undefined && chars > Number(r.max_len)) this.error(path, `${show} must be at most ${r.max_len} characters`);
    if (r.min_bytes !== undefined && bytes < Number(r.min_bytes)) this.error(path, `${show} must be at least ${r.min_bytes} bytes`);
    if (r.max_bytes !== undefined && bytes > Number(r.max_bytes)) this.error(path, `${show} must be at most ${r.max_bytes} bytes`);
    if (typeof r.prefix === "string" && !s.startsWith(r.prefix)) this.error(path, `${show} must start with "${r.prefix}"`);
    if (typeof r.suffix === "string" && !s.endsWith(r.suffix)) this.error(path, `${show} must end with "${r.suffix}"`);
    if (typeof r.contains === "string" && !s.includes(r.contains)) this.error(path, `${show} must contain "${r.contains}"`);
    if (typeof r.not_contains === "string" && s.includes(r.not_contains)) this.error(path, `${show} must not contain "${r.not_contains}"`);
    if (Array.isArray(r.in) && !r.in.includes(s)) this.error(path, `${show} must be one of ${r.in.map((x: string) => `"${x}"`).join(", ")}`);
    if (Array.isArray(r.not_in) && r.not_in.includes(s)) this.error(path, `${show} is not allowed`);
    if (typeof r.pattern === "string") {
      let re: RegExp | undefined;
      try {
        re = new RegExp(r.pattern, "u");
      } catch {
        re = undefined; // an RE2 construct JS cannot express: skip rather than guess
      }
      if (re && !re.test(s)) this.error(path, `${show} does not match the pattern ${r.pattern}`);
    }
    if (r.well_known_regex === "HTTP_HEADER_NAME" || r.well_known_regex === 1) {
      const re = r.strict === false ? HEADER_LOOSE : HEADER_NAME;
      if (!re.test(s)) this.error(path, `${show} is not a valid HTTP header name`);
    }
    if (r.well_known_regex === "HTTP_HEADER_VALUE" || r.well_known_regex === 2) {
      const re = r.strict === false ? HEADER_LOOSE : HEADER_VALUE;
      if (!re.test(s)) this.error(path, `${show} is not a valid HTTP header value`);
    }
    if (r.ip && isIP(s) === 0) this.error(path, `${show} is not an IP address`);
    if (r.ipv4 && isIP(s) !== 4) this.error(path, `${show} is not an IPv4 address`);
    if (r.ipv6 && isIP(s) !== 6) this.error(path, `${show} is not an IPv6 address`);
    if (r.hostname && !HOSTNAME.test(s)) this.error(path, `${show} is not a hostname`);
    if (r.address && isIP(s) === 0 && !HOSTNAME.test(s)) this.error(path, `${show} is not an IP address or hostname`);
  }

  private wellKnown(name: string, v: Json, path: string, slot?: string): void {
    switch (name) {
      case "google.protobuf.Duration":
        if (typeof v !== "string" || parseDurationNanos(v) === undefined) this.error(path, `${describe(v)} is not a valid duration: use a string like "1s" or "0.250s"`);
        return;
      case "google.protobuf.Timestamp":
        if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
          this.error(path, `expected an RFC 3339 timestamp like "2024-01-31T12:00:00Z", got ${describe(v)}`);
        }
        return;
      case "google.protobuf.Struct":
        if (!isObject(v)) this.error(path, `expected an object, got ${describe(v)}`);
        return;
      case "google.protobuf.ListValue":
        if (!Array.isArray(v)) this.error(path, `expected a list, got ${describe(v)}`);
        return;
      case "google.protobuf.Value":
        return;
      case "google.protobuf.FieldMask":
        if (typeof v !== "string") this.error(path, `expected a field mask string, got ${describe(v)}`);
        return;
      case "google.protobuf.Empty":
        if (!isObject(v) || Object.keys(v).length > 0) this.error(path, `expected an empty object {}, got ${describe(v)}`);
        return;
      case "google.protobuf.Any":
        this.any(v, path, slot, undefined);
        return;
      default: {
        const scalar = WRAPPERS[name];
        if (scalar) this.scalar(scalar, v, path);
      }
    }
  }

  /** An `Any`: `{"@type": "type.googleapis.com/<message>", ...fields}`; resolved, slot-checked, validated. */
  private any(v: Json, path: string, slot: string | undefined, r: Rules | undefined): void {
    if (!isObject(v)) {
      this.error(path, `expected an object with "@type", got ${describe(v)}`);
      return;
    }
    const url = v["@type"];
    if (typeof url !== "string" || url === "") {
      this.error(path, `missing "@type" (like "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")`);
      return;
    }
    const typeName = url.slice(url.lastIndexOf("/") + 1);
    const typePath = `${path}["@type"]`;
    if (Array.isArray(r?.in) && !r.in.includes(url)) this.error(typePath, `"${url}" is not allowed here (one of ${r.in.join(", ")})`);
    if (Array.isArray(r?.not_in) && r.not_in.includes(url)) this.error(typePath, `"${url}" is not allowed here`);
    const type = this.lookupType(typeName);
    if (!type) {
      const hint = closestMatch(typeName, this.rankedCandidates(typeName));
      this.error(typePath, `unknown @type "${typeName}": no such message in Envoy's API${hint ? `; did you mean "${hint}"?` : ""}`);
      return;
    }
    const rest = Object.fromEntries(Object.entries(v).filter(([k]) => k !== "@type"));
    if (TYPED_STRUCTS.has(typeName)) {
      this.message(type, v, path, undefined, "@type");
      const innerUrl = rest["type_url"] ?? rest["typeUrl"];
      if (typeof innerUrl !== "string") return;
      const innerName = innerUrl.slice(innerUrl.lastIndexOf("/") + 1);
      const inner = this.lookupType(innerName);
      if (!inner) {
        this.error(`${path}.type_url`, `unknown type "${innerName}": no such message in Envoy's API`);
        return;
      }
      if (!this.slotAllows(slot, innerName, `${path}.type_url`)) return;
      this.message(inner, rest["value"] ?? {}, `${path}.value`);
      return;
    }
    if (!this.slotAllows(slot, typeName, typePath)) return;
    if (SPECIAL_JSON.has(typeName)) {
      const keys = Object.keys(rest);
      if (keys.some((k) => k !== "value")) this.error(path, `an Any holding ${typeName} takes only "@type" and "value"`);
      if (!("value" in rest)) {
        this.error(path, `an Any holding ${typeName} needs "value"`);
        return;
      }
      this.wellKnown(typeName, rest["value"], `${path}.value`);
      return;
    }
    this.message(type, v, path, undefined, "@type");
  }

  private lookupType(name: string): protobuf.Type | undefined {
    if (!/^[A-Za-z_][\w.]*$/.test(name)) return undefined;
    const found = this.root.lookup("." + name);
    return found instanceof protobuf.Type ? found : undefined;
  }

  /** Candidate names for a did-you-mean on an unknown type: same last segment first, else all names. */
  private rankedCandidates(typeName: string): string[] {
    const names = allTypeNames(this.root);
    const last = typeName.slice(typeName.lastIndexOf(".") + 1).toLowerCase();
    const sameLast = names.filter((n) => n.slice(n.lastIndexOf(".") + 1).toLowerCase() === last);
    return sameLast.length > 0 ? sameLast : names;
  }

  private slotAllows(slot: string | undefined, typeName: string, path: string): boolean {
    if (!slot) return true;
    const allowed = SLOTS[slot];
    if (!allowed) return true;
    if (SLOT_EXTRA_TYPES[slot]?.includes(typeName)) return true;
    const category = categoryOf(typeName);
    if (category && allowed.includes(category[0])) return true;
    const wanted = [...new Set(allowed.map(categoryLabel))].join(" or ");
    const prefixes = allowed.map((p) => `${p}*`).join(", ");
    const what = category ? `is ${article(category[1])} config` : "is not an extension config";
    this.error(path, `${typeName} ${what}, but this slot takes ${article(wanted)} config (${prefixes})`);
    return false;
  }
}

function article(noun: string): string {
  return `${/^(HTTP|[aeiou])/i.test(noun) && !/^UDP/.test(noun) ? "an" : "a"} ${noun}`;
}

function defaultOf(kind: string): string | number | bigint | boolean {
  if (kind === "string" || kind === "bytes") return "";
  if (kind === "bool") return false;
  if (kind === "double" || kind === "float") return 0;
  return 0n;
}

function nameOfEnum(e: protobuf.Enum, n: number): string {
  return Object.entries(e.values).find(([, v]) => v === n)?.[0] ?? String(n);
}

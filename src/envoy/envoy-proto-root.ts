/**
 * Envoy's own API protos, loaded from disk into a protobufjs Root that serves as a type database only
 * (no encoding, no `fromObject`/`verify`). The protos come with the npm package `@grpc/grpc-js-xds`
 * under `deps/` (envoy-api, xds, googleapis, protoc-gen-validate). Loading takes about half a second,
 * so the Root is built once per process, lazily, and cached.
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { MtlsError } from "../errors.js";

const DEP_DIRS = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"] as const;

export interface EnvoyProtoRootLoadParams {
  /** Directory holding envoy-api/, xds/, googleapis/, protoc-gen-validate/; default: `deps/` of the installed `@grpc/grpc-js-xds`. */
  depsDir?: string;
}

/** Where `@grpc/grpc-js-xds/deps` lives: resolved as a package, else searched upwards from this file. */
export function findEnvoyProtoDepsDir(): string {
  const require = createRequire(import.meta.url);
  try {
    const main = require.resolve("@grpc/grpc-js-xds");
    let dir = path.dirname(main);
    for (let i = 0; i < 6; i++) {
      if (fs.existsSync(path.join(dir, "deps", "envoy-api"))) return path.join(dir, "deps");
      dir = path.dirname(dir);
    }
  } catch {
    // fall through to the upward search
  }
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, "node_modules", "@grpc", "grpc-js-xds", "deps");
    if (fs.existsSync(path.join(candidate, "envoy-api"))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new MtlsError("not-found", "Envoy API protos not found: install the npm package @grpc/grpc-js-xds (it ships them under deps/)");
}

function listProtos(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listProtos(p));
    else if (entry.name.endsWith(".proto")) out.push(p);
  }
  return out.sort();
}

/**
 * Build a Root from every Envoy/xds proto whose imports are all present (the shipped tree omits some
 * v2 files that a few legacy protos still import; those are skipped).
 */
export function loadEnvoyProtoRoot(params: EnvoyProtoRootLoadParams = {}): protobuf.Root {
  const depsDir = params.depsDir ?? findEnvoyProtoDepsDir();
  // protobufjs ships google/protobuf/*.proto (descriptor.proto and friends) next to its own sources.
  const protobufjsDir = path.dirname(createRequire(import.meta.url).resolve("protobufjs/package.json"));
  const searchDirs = [...DEP_DIRS.map((d) => path.join(depsDir, d)), protobufjsDir];
  const locate = (target: string): string | null => {
    for (const d of searchDirs) {
      const p = path.join(d, target);
      if (fs.existsSync(p)) return p;
    }
    return null;
  };

  const loadable = new Map<string, boolean>();
  const isLoadable = (file: string, visiting: Set<string>): boolean => {
    const known = loadable.get(file);
    if (known !== undefined) return known;
    if (visiting.has(file)) return true;
    visiting.add(file);
    let ok = true;
    const source = fs.readFileSync(file, "utf8");
    for (const m of source.matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)"/gm)) {
      const target = m[1] as string;
      if (target.startsWith("google/protobuf/")) continue;
      const p = locate(target);
      if (p === null || !isLoadable(p, visiting)) {
        ok = false;
        break;
      }
    }
    loadable.set(file, ok);
    return ok;
  };

  const files = [
    ...listProtos(path.join(depsDir, "envoy-api", "envoy")),
    ...listProtos(path.join(depsDir, "xds", "xds")),
    ...listProtos(path.join(depsDir, "xds", "udpa")),
  ].filter((f) => isLoadable(f, new Set()));

  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => (path.isAbsolute(target) ? target : (locate(target) ?? target));
  try {
    root.loadSync(files, { keepCase: true, alternateCommentMode: true });
    root.resolveAll();
  } catch (e) {
    throw new MtlsError("internal", `could not load Envoy API protos from ${depsDir}`, { cause: e });
  }
  return root;
}

let cached: protobuf.Root | undefined;

/** The process-wide Root, loaded on first use. */
export function envoyProtoRoot(): protobuf.Root {
  cached ??= loadEnvoyProtoRoot();
  return cached;
}

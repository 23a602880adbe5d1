import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package's version, from the nearest package.json named swarm-mtls above this module (src/ when run from
 * source, dist/src/ when built, /app/dist/src/ in the image, which ships package.json). One source of truth for
 * `--version`, the OpenAPI document and the User-Agent.
 */
export function packageVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "swarm-mtls" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // no package.json here: look one level up
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return "0.0.0-unknown";
}

export const VERSION = packageVersion();

#!/usr/bin/env node
// `npm start`: build if needed, then run `swarm-mtls serve` (extra arguments are passed on: npm start -- --listen ...).
// With no reachable swarm manager it runs the embedded mode on the file store ./data (CA created on first start); on
// a manager the first run is `npm start -- --init --trust-domain D`. serve's advice says `npm start -- …` when it
// runs under npm start (npm sets npm_lifecycle_event=start, see src/cli/invocation.ts).
import { spawnSync, spawn } from "node:child_process";
import { existsSync, statSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(repo, "dist/src/cli/main.js");

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

if (!existsSync(cli) || newestMtime(join(repo, "src")) > statSync(cli).mtimeMs) {
  process.stderr.write("building (tsc)...\n");
  const r = spawnSync(process.execPath, [join(repo, "node_modules/typescript/bin/tsc"), "-p", join(repo, "tsconfig.json")], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const child = spawn(process.execPath, [cli, "serve", ...process.argv.slice(2)], { stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

/**
 * README "5 minutes" → "On a laptop (embedded mode, no swarm)", followed word for word without a swarm: the commands
 * are read from README.md, run with `sh -c` in a fresh clone-like directory whose Docker engine is unreachable
 * (DOCKER_HOST names a socket that does not exist), and the API port comes from SWARM_MTLS_API_LISTEN. Then `status`
 * (text and --json) lists the embedded identities as GET /v1/services does: plain, since no swarm is reachable, and
 * with --store file:./data.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { keyMaterialIn } from "../../helpers/cli.js";
import { cloneLike, readmeBlocks, startTyped, typed, type Running } from "../../helpers/readme.js";
import { freePort, until } from "../../helpers/swarm-test.js";

const HEADING = "### On a laptop (embedded mode, no swarm)";

interface Listed {
  identity: string;
  generation: number;
  serial: string;
  notAfter: string;
  state: string;
}

t.test("README, on a laptop: npm start issues the demo identity into ./data; status lists it like the API", async (t) => {
  const [setup, check] = readmeBlocks(HEADING);
  t.ok(setup && check, "the section has its two shell blocks");
  if (!setup || !check) return;
  t.same(setup, ["git clone <this repository> swarm-mtls && cd swarm-mtls", "npm ci", "npm start"], "block 1: clone, npm ci, npm start");

  const port = await freePort("127.0.0.1");
  const parent = mkdtempSync(join(tmpdir(), "readme-laptop-"));
  const noSwarm = { DOCKER_HOST: `unix://${join(parent, "no-docker.sock")}`, SWARM_MTLS_API_LISTEN: `127.0.0.1:${port}` };
  let serve: Running | null = null;
  t.teardown(async () => {
    await serve?.stop();
    rmSync(parent, { recursive: true, force: true });
  });

  const clone = cloneLike(parent);
  serve = startTyped("npm start", clone, noSwarm);
  const running = serve;
  await until(`the demo identity's first certificate (log: ${running.log().slice(-1500)})`, 180_000, async () => {
    if (running.child.exitCode !== null) throw new Error(`npm start exited: ${running.log().slice(-1500)}`);
    return running.log().includes('"msg":"reconcile done"') ? true : undefined;
  });
  t.equal(statSync(join(clone, "data", "kek")).mode & 0o777, 0o400, "./data/kek has mode 0400");

  // Block 2 as typed, on this test's port.
  const [curl, openssl] = check.map((l) => l.replace("127.0.0.1:8443", `127.0.0.1:${port}`));
  const api = await typed(curl as string, clone, noSwarm);
  t.equal(api.code, 0, api.err);
  const listed = (JSON.parse(api.out) as { services: Listed[] }).services;
  t.match(listed, [{ identity: "demo", generation: 1, state: "ok" }], "GET /v1/services lists demo at generation 1");
  const cert = await typed(openssl as string, clone, noSwarm);
  t.equal(cert.code, 0, cert.err);
  t.match(cert.out, /subject=CN\s*=\s*demo/, "openssl shows the demo certificate");
  t.match(cert.out, "DNS:demo.local", "with its DNS name");
  t.match(cert.out, /URI:spiffe:\/\/[^/]+\/id\/demo/, "and its SPIFFE ID");

  // status: plain (no swarm reachable, ./data holds a CA) and --store file:./data (what works on a manager too).
  for (const args of ["status", "status --store file:./data"]) {
    const json = await typed(`node dist/src/cli/main.js ${args} --json`, clone, noSwarm);
    t.equal(json.code, 0, `${args} --json: ${json.err}`);
    const report = JSON.parse(json.out) as { mode: string; services: Listed[] };
    t.equal(report.mode, "embedded", `${args}: embedded mode`);
    const demo = listed[0] as Listed;
    t.match(report.services, [{ identity: "demo", generation: 1, serial: demo.serial, notAfter: demo.notAfter, state: "ok" }], `${args} --json: the same identity, generation, serial and expiry as GET /v1/services`);
    const text = await typed(`node dist/src/cli/main.js ${args}`, clone, noSwarm);
    t.equal(text.code, 0, text.err);
    t.match(text.out, /embedded mode: file:\S+\/data/, `${args}: says which store it read`);
    t.match(text.out, new RegExp(`^demo\\s+demo\\s+v1\\s+${demo.serial.slice(0, 16)}`, "m"), `${args}: a row for demo, v1, its serial`);
  }
  // With neither a swarm nor ./data, plain status says both.
  const elsewhere = await typed(`node ${join(clone, "dist/src/cli/main.js")} status`, parent, noSwarm);
  t.equal(elsewhere.code, 1, "no swarm, no ./data: exit 1");
  t.match(elsewhere.err, /no swarm manager reachable .* and no embedded-mode CA in/, "says there is neither");

  t.equal(keyMaterialIn(running.log() + api.out + cert.out, [join(clone, "data", "kek")]), null, "no key material printed");
});

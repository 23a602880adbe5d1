/**
 * The Docker event stream on the real engine: it stays open through quiet spells longer than the client's request
 * timeout (serve watches it for hours), and it delivers a config created while it is open.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { connectSwarm } from "../../../src/swarm/docker-client.js";
import { dockerConnectionFromEnv } from "../../../src/swarm/docker-connection.js";
import type { SwarmEvent } from "../../../src/swarm/swarm.js";
import { docker, removeByPrefix, requireSwarm, uniquePrefix } from "../../fixtures/swarm/sandbox.js";
import { until } from "../../helpers/swarm-test.js";

const oracle = await requireSwarm();
const prefix = uniquePrefix();
t.teardown(() => removeByPrefix(oracle, prefix));

t.test("a quiet event stream is not cut by the request timeout, and events still arrive", async (t) => {
  // A 1 s request timeout: every other call must answer within it, the event stream must not be bound by it.
  const swarm = connectSwarm({ ...dockerConnectionFromEnv(process.env), timeoutMs: 1_000 });
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const reconnects: string[] = [];
  const seen: SwarmEvent[] = [];
  let connected = 0;
  const watching = swarm.events(
    { types: ["config"], signal: stop.signal, onConnected: () => connected++, onReconnect: (e) => reconnects.push(String((e as Error).message ?? e)) },
    (e) => seen.push(e),
  );
  await until("the event stream to open", 30_000, async () => (connected > 0 ? true : undefined));
  // Quiet for three request timeouts (no config objects change in this test meanwhile; other tests' configs may).
  await new Promise((r) => setTimeout(r, 3_500));
  t.same(reconnects, [], "the stream was never dropped during the quiet spell");
  t.equal(connected, 1, "opened once");
  const name = `${prefix}.evt`;
  const file = join(mkdtempSync(join(tmpdir(), "events-")), "data");
  writeFileSync(file, "x");
  await docker("config", "create", name, file);
  const hit = await until(`the create event of config ${name}`, 30_000, async () => seen.find((e) => e.name === name || e.attributes.name === name));
  t.ok(hit, "the create event arrived on the same stream");
  stop.abort();
  await watching;
});

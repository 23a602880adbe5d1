/**
 * `serve` limits requests per client address as api.rateLimit says (SWARM_MTLS_API_RATE_LIMIT_*): what a client
 * sees over the limit is 429 with Retry-After, while the admin's token still goes through. File store, no swarm.
 */
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import t from "tap";
import { assertServeRuns, spawnServe } from "../../helpers/serve-process.js";
import { freePort } from "../../helpers/swarm-test.js";
import { sandbox } from "./fixtures/cli-sandbox.js";

const TOKEN = "serve-rate-limit-token-0123456789";

/** Whether something accepts TCP connections on 127.0.0.1:port (no HTTP request: that would count). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.end();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

t.test("serve with api.rateLimit.max 4: the 5th request gets 429 with Retry-After; the admin token is not limited", async (t) => {
  const s = sandbox(t);
  await s.init();
  const tokenFile = join(s.dir, "token");
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const port = await freePort("127.0.0.1");
  const serve = spawnServe(["--listen", `127.0.0.1:${port}`, "--store", `file:${s.data}`, "--admin-token-file", tokenFile], {
    SWARM_MTLS_API_RATE_LIMIT_MAX: "4",
    SWARM_MTLS_API_RATE_LIMIT_WINDOW: "10m",
  });
  t.teardown(() => serve.kill());
  for (let i = 0; !(await listening(port)) && i < 600; i++) {
    assertServeRuns(serve);
    await new Promise((res) => setTimeout(res, 100));
  }
  const url = `http://127.0.0.1:${port}/v1/ca`;
  for (let i = 1; i <= 4; i++) t.equal((await fetch(url)).status, 200, `request ${i} of 4 answered`);
  const over = await fetch(url);
  t.equal(over.status, 429, "the 5th is refused");
  t.match(over.headers.get("content-type"), /^application\/problem\+json/);
  const retryAfter = Number(over.headers.get("retry-after"));
  t.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 600, `Retry-After: ${over.headers.get("retry-after")} s, within the 10m window`);
  t.match(await over.json(), { code: "rate-limited", detail: /at most 4 per 10 min/ });
  const admin = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(admin.status, 200, "a request with the admin token still goes through");
});

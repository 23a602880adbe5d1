/**
 * "Pretty when a TTY" must not crash where the pretty printer is not installed (the production image has no
 * devDependencies): the logger falls back to JSON lines.
 */
import { PassThrough } from "node:stream";
import t from "tap";
import { createLogger, prettyPrinterPath } from "../../../src/log.js";

t.test("prettyPrinterPath finds pino-pretty here (a devDependency) and null for a module that is not installed", async (t) => {
  t.match(prettyPrinterPath(), /pino-pretty/);
  t.equal(prettyPrinterPath("pino-pretty-not-installed-xyz"), null);
});

t.test("pretty asked for but the printer cannot be loaded: JSON lines, no crash", async (t) => {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d) => (text += d));
  const log = createLogger({ pretty: true, prettyModule: "pino-pretty-not-installed-xyz", destination: out });
  log.info({ component: "test", token: "s3cret-token-value" }, "hello");
  await new Promise((r) => setImmediate(r));
  const line = JSON.parse(text.trim().split("\n")[0] as string) as Record<string, unknown>;
  t.equal(line.msg, "hello");
  t.equal(line.component, "test");
  t.equal(line.token, "[redacted]", "redaction still applies");
});

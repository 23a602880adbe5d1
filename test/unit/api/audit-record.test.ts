import { Writable } from "node:stream";
import t from "tap";
import { createLogger } from "../../../src/log.js";
import { auditMessage, auditRecord, splitTrigger, writeAudit } from "../../../src/rotation/audit-record.js";

const FIELDS = ["audit", "event", "trigger", "actor", "identity", "service", "serial", "fingerprint", "generation", "result"];

t.test("every record has the same fields; the API actor is split from the trigger", async (t) => {
  const r = auditRecord({ event: "rotate", trigger: "api:token", identity: "shop_api", service: "shop_api", serial: "0A1B", fingerprint: "AB:CD", generationFrom: 1, generationTo: 2, result: "ok" });
  t.same(Object.keys(r), FIELDS);
  t.same(r, { audit: true, event: "rotate", trigger: "api", actor: "token", identity: "shop_api", service: "shop_api", serial: "0a1b", fingerprint: "abcd", generation: { from: 1, to: 2 }, result: "ok" });
  const minimal = auditRecord({ event: "sign", trigger: "schedule", result: "refused", error: "identity 'x' is not a known identity" });
  t.same(Object.keys(minimal), [...FIELDS, "error"]);
  t.same(minimal.generation, { from: null, to: null });
  t.equal(minimal.actor, null);
  t.equal(minimal.serial, null);
  t.same(splitTrigger("api:spiffe://example.org/id/ops"), { trigger: "api", actor: "spiffe://example.org/id/ops" });
  t.same(splitTrigger("cli"), { trigger: "cli", actor: null });
  t.equal(auditMessage(minimal), "audit: sign refused");
});

t.test("only hex reaches serial and fingerprint; long errors are cut", async (t) => {
  const r = auditRecord({ event: "rotate", trigger: "cli", serial: "-----BEGIN PRIVATE KEY-----", fingerprint: "zz", result: "failed", error: "x".repeat(2000) });
  t.equal(r.serial, null);
  t.equal(r.fingerprint, null);
  t.ok((r.error ?? "").length <= 501);
});

t.test("writeAudit logs one JSON line under component audit (info when ok, warn otherwise)", async (t) => {
  let out = "";
  const destination = new Writable({ write(chunk, _enc, cb) { out += String(chunk); cb(); } });
  const logger = createLogger({ level: "info", pretty: false, destination });
  writeAudit(logger, auditRecord({ event: "rotate", trigger: "event", identity: "a", generationFrom: null, generationTo: 1, serial: "01", fingerprint: "ff", result: "ok" }));
  writeAudit(logger, auditRecord({ event: "rotate", trigger: "event", identity: "a", generationFrom: 1, generationTo: 1, result: "failed", error: "boom" }));
  const lines = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, 2);
  t.match(lines[0], { component: "audit", audit: true, level: 30, msg: "audit: rotate ok", generation: { from: null, to: 1 }, serial: "01", fingerprint: "ff" });
  t.match(lines[1], { component: "audit", level: 40, result: "failed", error: "boom" });
});

import t from "tap";
import type { DockerConfig, DockerSecret } from "../../../src/swarm/docker-types.js";
import { readConfigRecord, readSecretRecord } from "../../../src/swarm/object-record.js";
import { fixture } from "../../fixtures/swarm/load-fixture.js";

t.test("secrets from GET /secrets: name, labels, never data", async (t) => {
  const raw = fixture<DockerSecret[]>("secrets.json").find((s) => s.Spec?.Name === "fx.api.crt.v1");
  t.ok(raw, "captured");
  const s = readSecretRecord(raw!);
  t.equal(s.name, "fx.api.crt.v1");
  t.same(s.labels, { "io.swarm-mtls.kind": "crt", "io.swarm-mtls.managed": "true" });
  t.ok(s.version > 0);
  t.ok(s.createdAt instanceof Date);
  t.notOk("data" in s);
});

t.test("configs from GET /configs: data decoded", async (t) => {
  const [raw] = fixture<DockerConfig[]>("configs.json");
  const c = readConfigRecord(raw!);
  t.equal(c.name, "fx.app.conf");
  t.equal(c.data.toString(), "listen 80\n");
  t.same(c.labels, { purpose: "fixture" });
  t.equal(readConfigRecord({ ID: "x" }).data.length, 0);
});

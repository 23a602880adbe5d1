import t from "tap";
import { plaintextPortOnManagedService } from "../../../src/audit/checks/plaintext-port-on-managed-service.js";
import { isEncrypted, unencryptedOverlay } from "../../../src/audit/checks/unencrypted-overlay.js";
import { auditContext, capturedInventory, editedService } from "../../fixtures/audit/load-audit-fixture.js";

const ctx = auditContext();

t.test("ENC001 on one node: unencrypted overlays are low, the encrypted internal one is fine", async (t) => {
  const found = unencryptedOverlay.run(capturedInventory(), ctx);
  t.same(found.map((f) => `${f.severity} ${f.object.name}`), ["low aud-front", "low aud-back", "low ingress"]);
  t.equal(found[1]!.message, "overlay network without encrypted=true carries 3 service(s)");
  t.match(found[1]!.fix, /^docker network create --driver overlay --opt encrypted=true aud-back-enc && docker service update --network-rm aud-back --network-add aud-back-enc aud-web/);
  t.match(found[0]!.fix, /--attachable aud-front-enc/, "keeps --attachable");
});

t.test("ENC001 across nodes: overlays carrying services are medium; ingress stays low", async (t) => {
  const inv = { ...capturedInventory(), nodes: 3 };
  const found = unencryptedOverlay.run(inv, ctx);
  t.same(found.map((f) => `${f.severity} ${f.object.name}`), ["medium aud-front", "medium aud-back", "low ingress"]);
  t.match(found[0]!.message, /across nodes/);
});

t.test("ENC001: an unencrypted overlay carrying an opted-in service is medium even on one node", async (t) => {
  const inv = capturedInventory();
  const back = inv.networks.find((n) => n.name === "aud-back")!.id;
  inv.services = inv.services.map((s) => (s.name === "aud-api" ? editedService(inv, "aud-api", (spec) => void (spec.TaskTemplate!.Networks = [{ Target: back }])) : s));
  const f = unencryptedOverlay.run(inv, ctx).find((x) => x.object.name === "aud-back")!;
  t.equal(f.severity, "medium");
  t.equal(f.message, "overlay network without encrypted=true carries 4 service(s), 1 of them opted in to mTLS");
});

t.test("ENC001: `encrypted` present means encrypted, whatever its value (as the overlay driver reads it)", async (t) => {
  const n = capturedInventory().networks[0]!;
  t.notOk(isEncrypted(n));
  t.ok(isEncrypted({ ...n, options: { encrypted: "" } }));
  t.ok(isEncrypted({ ...n, options: { encrypted: "true" } }));
});

t.test("ENC001: no routing-mesh finding when nothing publishes through it", async (t) => {
  const inv = capturedInventory();
  inv.services = inv.services.filter((s) => s.name !== "aud-web" && s.name !== "aud-api");
  t.notOk(unencryptedOverlay.run(inv, ctx).some((f) => f.object.name === "ingress"));
});

t.test("ENC002: the opted-in aud-api also publishes plain HTTP on 80", async (t) => {
  const [f, ...rest] = plaintextPortOnManagedService.run(capturedInventory(), ctx);
  t.same(rest, []);
  t.same(f!.object, { kind: "service", name: "aud-api" });
  t.equal(f!.message, "opted in to mTLS but publishes 18091:80 (a plain-HTTP port)");
  t.equal(f!.fix, "docker service update --publish-rm 80 aud-api");
});

t.test("ENC002 with the Envoy sidecar: only the mTLS listener and the readiness port may be published", async (t) => {
  const inv = capturedInventory();
  const ports = (targets: number[]) =>
    editedService(inv, "aud-api", (spec) => {
      spec.Labels = { ...spec.Labels, "audfx.envoy": "true", "audfx.envoy.listen": "9443" };
      spec.EndpointSpec = { Ports: targets.map((p) => ({ TargetPort: p, PublishedPort: 10000 + p, Protocol: "tcp", PublishMode: "host" })) };
    });
  inv.services = [ports([9443, 9902])];
  t.same(plaintextPortOnManagedService.run(inv, ctx), []);
  inv.services = [ports([9443, 8080])];
  const [f] = plaintextPortOnManagedService.run(inv, ctx);
  t.equal(f!.message, "opted in to mTLS but publishes 18080:8080 besides its Envoy mTLS listener");
  t.equal(f!.fix, "docker service update --publish-rm 8080 aud-api (publish only the mTLS port 9443)");
});

t.test("ENC002: a service that is not opted in is CRT003's business, not this check's", async (t) => {
  const inv = capturedInventory();
  inv.services = inv.services.filter((s) => s.name === "aud-web");
  t.same(plaintextPortOnManagedService.run(inv, ctx), []);
});

import t from "tap";
import { databaseOnOpenNetwork } from "../../../src/audit/checks/database-on-open-network.js";
import { databasePublishesPorts } from "../../../src/audit/checks/database-publishes-ports.js";
import { databaseSharesEdgeNetwork } from "../../../src/audit/checks/database-shares-edge-network.js";
import { networkJoinedByEverything } from "../../../src/audit/checks/network-joined-by-everything.js";
import type { AuditInventory } from "../../../src/audit/audit-inventory.js";
import { auditContext, capturedInventory, editedService } from "../../fixtures/audit/load-audit-fixture.js";

const ctx = auditContext();
const networkId = (inv: AuditInventory, name: string) => inv.networks.find((n) => n.name === name)!.id;

t.test("SEG001: the database shares aud-back with aud-web, which publishes a port", async (t) => {
  const [f, ...rest] = databaseSharesEdgeNetwork.run(capturedInventory(), ctx);
  t.same(rest, []);
  t.equal(f!.severity, "high");
  t.same(f!.object, { kind: "service", name: "aud-postgres" });
  t.equal(f!.message, "database-like service shares network aud-back with aud-web, which publishes ports");
  t.match(f!.fix, /^docker network create --driver overlay --internal --opt encrypted=true aud-postgres-data && docker service update --network-rm aud-back --network-add aud-postgres-data aud-postgres/);
});

t.test("SEG001: no finding once the web tier stops publishing", async (t) => {
  const inv = capturedInventory();
  inv.services = inv.services.map((s) => (s.name === "aud-web" ? editedService(inv, "aud-web", (spec) => void (spec.EndpointSpec = { Mode: "vip" })) : s));
  t.same(databaseSharesEdgeNetwork.run(inv, ctx), []);
});

t.test("SEG002: a database that publishes its port", async (t) => {
  const inv = capturedInventory();
  t.same(databasePublishesPorts.run(inv, ctx), [], "nothing in the capture");
  inv.services.push(
    editedService(inv, "aud-clean", (spec) => {
      spec.TaskTemplate!.ContainerSpec!.Image = "docker.io/library/mariadb:11@sha256:abcd";
      spec.EndpointSpec = { Ports: [{ TargetPort: 3306, PublishedPort: 3306, Protocol: "tcp", PublishMode: "ingress" }] };
    }, "shop_store"),
  );
  const [f] = databasePublishesPorts.run(inv, ctx);
  t.equal(f!.message, "database-like service publishes 3306:3306");
  t.equal(f!.fix, "docker service update --publish-rm 3306 shop_store (reach it over an internal overlay network instead)");
});

t.test("SEG003: a database on a network without --internal; none on the internal one", async (t) => {
  const inv = capturedInventory();
  t.same(databaseOnOpenNetwork.run(inv, ctx).map((f) => f.message), ["database-like service joins network aud-back, which is not internal"]);
  const onSecure = editedService(inv, "aud-postgres", (spec) => void (spec.TaskTemplate!.Networks = [{ Target: networkId(inv, "aud-secure") }]));
  inv.services = inv.services.map((s) => (s.name === "aud-postgres" ? onSecure : s));
  t.same(databaseOnOpenNetwork.run(inv, ctx), []);
});

t.test("SEG004: a stack whose every service joins one network", async (t) => {
  const inv = capturedInventory();
  t.same(networkJoinedByEverything.run(inv, ctx), [], "the capture is segmented");
  const back = networkId(inv, "aud-back");
  for (const name of ["front", "api", "worker"]) {
    inv.services.push(
      editedService(inv, "aud-clean", (spec) => {
        spec.Labels = { "com.docker.stack.namespace": "shop" };
        spec.TaskTemplate!.Networks = [{ Target: back }];
      }, `shop_${name}`),
    );
  }
  const found = networkJoinedByEverything.run(inv, ctx);
  t.equal(found.length, 1, "reported once per network");
  t.same(found[0]!.object, { kind: "network", name: "aud-back" });
  t.equal(found[0]!.severity, "medium");
  t.equal(found[0]!.message, "every service of stack shop (3) joins network aud-back");
});

t.test("SEG004: two services sharing a network is not 'everything'", async (t) => {
  const inv = capturedInventory();
  const back = networkId(inv, "aud-back");
  for (const name of ["a", "b"]) {
    inv.services.push(editedService(inv, "aud-clean", (spec) => {
      spec.Labels = { "com.docker.stack.namespace": "tiny" };
      spec.TaskTemplate!.Networks = [{ Target: back }];
    }, `tiny_${name}`));
  }
  t.same(networkJoinedByEverything.run(inv, ctx), []);
});

t.test("SEG004: a whole swarm on one network (no stacks)", async (t) => {
  const inv = capturedInventory();
  const back = networkId(inv, "aud-back");
  inv.services = ["a", "b", "c"].map((n) => editedService(inv, "aud-clean", (spec) => void (spec.TaskTemplate!.Networks = [{ Target: back }]), n));
  t.same(networkJoinedByEverything.run(inv, ctx).map((f) => f.message), ["every service of the swarm (3) joins network aud-back"]);
});

t.test("SEG004: a stack that is the whole swarm is reported once, as the stack", async (t) => {
  const inv = capturedInventory();
  const back = networkId(inv, "aud-back");
  inv.services = ["a", "b", "c"].map((n) =>
    editedService(inv, "aud-clean", (spec) => {
      spec.Labels = { "com.docker.stack.namespace": "shop" };
      spec.TaskTemplate!.Networks = [{ Target: back }];
    }, `shop_${n}`),
  );
  t.same(networkJoinedByEverything.run(inv, ctx).map((f) => f.message), ["every service of stack shop (3) joins network aud-back"]);
});

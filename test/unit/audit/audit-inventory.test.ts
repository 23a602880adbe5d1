import t from "tap";
import { gatherAuditInventory } from "../../../src/audit/audit-inventory.js";
import { runAudit } from "../../../src/audit/run-audit.js";
import { MtlsError } from "../../../src/errors.js";
import type { Swarm } from "../../../src/swarm/swarm.js";
import { auditContext, capturedInventory } from "../../fixtures/audit/load-audit-fixture.js";

/** A swarm that answers from the captured fixture, except that GET /networks leaves out the swarm's `host` (as the engine does). */
function fixtureSwarm(calls: string[]): Swarm {
  const inv = capturedInventory();
  const listed = inv.networks.filter((n) => !(n.name === "host" && n.scope === "swarm"));
  const stub: Partial<Swarm> = {
    info: async () => ({ engineVersion: "20.10", apiVersion: "1.41", swarmActive: true, isManager: true, nodes: 3 }),
    listServices: async () => inv.services,
    listSecrets: async () => inv.secrets,
    listNetworks: async () => [...listed],
    inspectNetwork: async (id: string) => {
      calls.push(`inspect network ${id}`);
      const n = inv.networks.find((x) => x.id === id);
      if (!n) throw new MtlsError("not-found", `docker: inspect network ${id} failed: not found`);
      return n;
    },
  };
  return stub as Swarm;
}

t.test("gather: services, networks (plus the unlisted swarm host network), secrets, node count, how we dialled", async (t) => {
  const calls: string[] = [];
  const inv = await gatherAuditInventory(fixtureSwarm(calls), { connection: { host: "tcp://10.1.2.3:2375" } });
  t.equal(inv.services.length, 6);
  t.equal(inv.secrets.length, 5);
  t.equal(inv.nodes, 3);
  t.equal(calls.length, 1, "only the one network GET /networks did not list is inspected");
  t.ok(inv.networks.some((n) => n.name === "host" && n.scope === "swarm"));
  t.same(inv.engine, { address: "tcp://10.1.2.3:2375", transport: "tcp", tlsVerify: false, clientCert: false, loopback: false });
  const ids = runAudit(inv, auditContext()).map((f) => `${f.severity} ${f.id} ${f.object.name}`);
  t.ok(ids.includes("critical SOCK002 tcp://10.1.2.3:2375"), "the plain-TCP engine shows up");
  t.ok(ids.includes("medium CAP004 aud-hostnet"), "host networking is seen");
  t.ok(ids.includes("medium ENC001 aud-back"), "three nodes: unencrypted overlays are medium");
});

t.test("gather: a network removed since a service named it is skipped; other errors fail the audit", async (t) => {
  const swarm = fixtureSwarm([]);
  const inv = capturedInventory();
  inv.services[0]!.spec.TaskTemplate!.Networks = [{ Target: "gone0000" }];
  swarm.listServices = async () => inv.services;
  const got = await gatherAuditInventory(swarm);
  t.notOk(got.networks.some((n) => n.id === "gone0000"));
  swarm.inspectNetwork = async () => {
    throw new MtlsError("docker", "docker: inspect network failed: connection refused");
  };
  await t.rejects(gatherAuditInventory(swarm), { code: "docker" });
});

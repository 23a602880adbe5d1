import t from "tap";
import { dangerousCapability } from "../../../src/audit/checks/dangerous-capability.js";
import { hostNetwork } from "../../../src/audit/checks/host-network.js";
import { hostPathMount } from "../../../src/audit/checks/host-path-mount.js";
import { unconfinedProfile } from "../../../src/audit/checks/unconfined-profile.js";
import { auditContext, capturedInventory, editedService, variantService } from "../../fixtures/audit/load-audit-fixture.js";

const ctx = auditContext();

t.test("CAP001: aud-agent adds SYS_ADMIN, NET_ADMIN, NET_RAW (and the harmless CHOWN)", async (t) => {
  const found = dangerousCapability.run(capturedInventory(), ctx);
  t.same(found.map((f) => `${f.severity} ${f.object.name} ${f.message}`), [
    "high aud-agent adds capability NET_ADMIN",
    "medium aud-agent adds capability NET_RAW",
    "critical aud-agent adds capability SYS_ADMIN",
  ]);
  t.equal(found[0]!.fix, "docker service update --cap-drop NET_ADMIN aud-agent (or drop it from cap_add in the stack file)");
});

t.test("CAP001: names with or without CAP_, any case; ALL is critical", async (t) => {
  const inv = capturedInventory();
  inv.services = [editedService(inv, "aud-clean", (spec) => void (spec.TaskTemplate!.ContainerSpec!.CapabilityAdd = ["all", "cap_sys_ptrace", "NET_BIND_SERVICE"]))];
  t.same(dangerousCapability.run(inv, ctx).map((f) => `${f.severity} ${f.message}`), ["critical adds capability ALL", "high adds capability SYS_PTRACE"]);
});

t.test("CAP002: seccomp unconfined, AppArmor disabled, SELinux label=disable (API 1.44 spec, hand-edited)", async (t) => {
  const inv = capturedInventory();
  t.same(unconfinedProfile.run(inv, ctx), [], "nothing in the capture");
  inv.services.push(variantService("unconfined"));
  t.same(unconfinedProfile.run(inv, ctx).map((f) => `${f.severity} ${f.object.name} ${f.message}`), [
    "high aud-unconfined runs with seccomp=unconfined",
    "high aud-unconfined runs with apparmor=unconfined (AppArmor disabled)",
    "medium aud-unconfined runs with SELinux labelling disabled (label=disable)",
  ]);
});

t.test("CAP003: aud-agent mounts the host's /etc read-only (the socket is SOCK001's)", async (t) => {
  const found = hostPathMount.run(capturedInventory(), ctx);
  t.same(found.map((f) => `${f.severity} ${f.message}`), ["medium bind-mounts host path /etc at /host/etc read-only"]);
  t.equal(found[0]!.fix, "docker service update --mount-rm /host/etc aud-agent (mount a volume or a narrower path)");
});

t.test("CAP003: writable system paths and the host root are high; app data paths and volumes are fine", async (t) => {
  const inv = capturedInventory();
  inv.services = [
    editedService(inv, "aud-clean", (spec) => {
      spec.TaskTemplate!.ContainerSpec!.Mounts = [
        { Type: "bind", Source: "/", Target: "/host", ReadOnly: true },
        { Type: "bind", Source: "/var/lib/docker/volumes", Target: "/v" },
        { Type: "bind", Source: "/proc/", Target: "/host/proc" },
        { Type: "bind", Source: "/srv/app/data", Target: "/data" },
        { Type: "bind", Source: "/etcetera", Target: "/x" },
        { Type: "volume", Source: "etc", Target: "/etc/app" },
      ];
    }),
  ];
  t.same(hostPathMount.run(inv, ctx).map((f) => `${f.severity} ${f.message}`), [
    "high bind-mounts host path / at /host read-only",
    "high bind-mounts host path /var/lib/docker/volumes at /v writable",
    "high bind-mounts host path /proc/ at /host/proc writable",
  ]);
});

t.test("CAP004: aud-hostnet runs on the host network (the swarm-level host network, found by its id)", async (t) => {
  const found = hostNetwork.run(capturedInventory(), ctx);
  t.same(found.map((f) => `${f.severity} ${f.object.name} ${f.message}`), ["medium aud-hostnet joins the host network (shares the node's network stack)"]);
  t.match(found[0]!.fix, "docker service update --network-rm host --network-add <overlay> aud-hostnet");
});

import t from "tap";
import type { ServiceSpec } from "../../../src/swarm/docker-types.js";
import { patchServiceConfigs } from "../../../src/swarm/patch-service-configs.js";
import { rawService } from "../../fixtures/swarm/load-fixture.js";

const rich = (): ServiceSpec => rawService("rich").Spec ?? {};
const withoutConfigs = (spec: ServiceSpec) => {
  const c = structuredClone(spec);
  delete c.TaskTemplate?.ContainerSpec?.Configs;
  return c;
};

t.test("replaces the config at the same target, keeps mode and everything else", async (t) => {
  const before = rich();
  const p = patchServiceConfigs(before, { replace: [{ configId: "new", configName: "fx.app.conf.v2", target: "/etc/app.conf" }] });
  t.same(p.TaskTemplate?.ContainerSpec?.Configs, [
    { File: { Name: "/etc/app.conf", UID: "0", GID: "0", Mode: 0o444 }, ConfigID: "new", ConfigName: "fx.app.conf.v2" },
  ]);
  t.same(withoutConfigs(p), withoutConfigs(before), "secrets, env, mounts, networks… untouched");
  t.same(patchServiceConfigs(p, { replace: [{ configId: "new", configName: "fx.app.conf.v2", target: "/etc/app.conf" }] }), p, "idempotent");
});

t.test("appends an Envoy bootstrap next to existing configs; remove drops old ones", async (t) => {
  const att = { configId: "e1", configName: "mtls.api.envoy.v1", target: "/etc/envoy/envoy.yaml", uid: "101", gid: "101", mode: 0o440 };
  const p = patchServiceConfigs(rich(), { replace: [att] });
  t.same(p.TaskTemplate?.ContainerSpec?.Configs?.map((c) => c.ConfigName), ["fx.app.conf", "mtls.api.envoy.v1"]);
  t.same(p.TaskTemplate?.ContainerSpec?.Configs?.[1]?.File, { Name: "/etc/envoy/envoy.yaml", UID: "101", GID: "101", Mode: 0o440 });
  const dropped = patchServiceConfigs(rich(), { replace: [], remove: (c) => c.ConfigName === "fx.app.conf" });
  t.equal(dropped.TaskTemplate?.ContainerSpec?.Configs, undefined);
});

t.test("a config without File (credential spec) is kept untouched", async (t) => {
  const s: ServiceSpec = { TaskTemplate: { ContainerSpec: { Configs: [{ ConfigID: "cs", ConfigName: "credspec", Runtime: {} }] } } };
  const p = patchServiceConfigs(s, { replace: [{ configId: "e", configName: "e", target: "/e.yaml" }] });
  t.same(p.TaskTemplate?.ContainerSpec?.Configs?.[0], { ConfigID: "cs", ConfigName: "credspec", Runtime: {} });
  t.equal(p.TaskTemplate?.ContainerSpec?.Configs?.length, 2);
});

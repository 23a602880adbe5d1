import t from "tap";
import type { SecretReference, ServiceSpec } from "../../../src/swarm/docker-types.js";
import { patchServiceSecrets, type SecretAttachment } from "../../../src/swarm/patch-service-secrets.js";
import { rawService, scenarios } from "../../fixtures/swarm/load-fixture.js";

const ids = scenarios.secretIds;
const rotate: SecretAttachment[] = [
  { secretId: ids["fx.api.crt.v2"], secretName: "fx.api.crt.v2", target: "tls.crt" },
  { secretId: ids["fx.api.key.v2"], secretName: "fx.api.key.v2", target: "tls.key" },
];
const byTarget = (refs: SecretReference[] | undefined) => [...(refs ?? [])].sort((a, b) => (a.File?.Name ?? "").localeCompare(b.File?.Name ?? ""));
const withoutSecrets = (spec: ServiceSpec) => {
  const c = structuredClone(spec);
  delete c.TaskTemplate?.ContainerSpec?.Secrets;
  return c;
};
const spec = (name: string): ServiceSpec => {
  const s = rawService(name).Spec;
  if (!s) throw new Error("no spec");
  return s;
};

t.test("gives exactly what `docker service update --secret-rm/--secret-add` gave (captured)", async (t) => {
  const before = spec("rich");
  const cliResult = spec("rich-updated");
  const patched = patchServiceSecrets(before, { replace: rotate });
  t.same(withoutSecrets(patched), withoutSecrets(cliResult), "every other field identical to the CLI's result");
  t.same(byTarget(patched.TaskTemplate?.ContainerSpec?.Secrets), byTarget(cliResult.TaskTemplate?.ContainerSpec?.Secrets),
    "same references: targets, uid/gid/mode kept, new ids");
});

t.test("keeps every other field and the untouched references exactly", async (t) => {
  const before = spec("rich");
  const snapshot = structuredClone(before);
  const patched = patchServiceSecrets(before, { replace: rotate });
  t.same(before, snapshot, "input not modified");
  t.same(withoutSecrets(patched), withoutSecrets(before));
  const refs = patched.TaskTemplate?.ContainerSpec?.Secrets ?? [];
  t.same(refs.map((r) => r.SecretName),
    (before.TaskTemplate?.ContainerSpec?.Secrets ?? []).map((r) => (r.SecretName ?? "").replace(/^fx\.api\.(crt|key)\.v1$/, "fx.api.$1.v2")),
    "replaced in place, order kept");
  const key = refs.find((r) => r.File?.Name === "tls.key");
  t.same(key?.File, { Name: "tls.key", UID: "101", GID: "101", Mode: 0o400 }, "owner and mode of the key file kept");
  t.same(refs.find((r) => r.File?.Name === "ca.crt"), before.TaskTemplate?.ContainerSpec?.Secrets?.find((r) => r.File?.Name === "ca.crt"));
});

t.test("idempotent", async (t) => {
  for (const name of ["rich", "plain", "hostport", "global", "failing"]) {
    const once = patchServiceSecrets(spec(name), { replace: rotate });
    t.same(patchServiceSecrets(once, { replace: rotate }), once, name);
  }
});

t.test("no secrets yet: appended with defaults or the attachment's owner/mode", async (t) => {
  const patched = patchServiceSecrets(spec("plain"), {
    replace: [
      { secretId: "c", secretName: "mtls.p.crt.v1", target: "tls.crt" },
      { secretId: "k", secretName: "mtls.p.key.v1", target: "tls.key", uid: "101", gid: "101", mode: 0o400 },
    ],
  });
  t.same(patched.TaskTemplate?.ContainerSpec?.Secrets, [
    { File: { Name: "tls.crt", UID: "0", GID: "0", Mode: 0o444 }, SecretID: "c", SecretName: "mtls.p.crt.v1" },
    { File: { Name: "tls.key", UID: "101", GID: "101", Mode: 0o400 }, SecretID: "k", SecretName: "mtls.p.key.v1" },
  ]);
  t.same(withoutSecrets(patched), spec("plain"));
});

t.test("attachment owner/mode override the existing reference's", async (t) => {
  const patched = patchServiceSecrets(spec("rich"), {
    replace: [{ secretId: "k3", secretName: "fx.api.key.v3", target: "tls.key", uid: "0", mode: 0o440 }],
  });
  const key = patched.TaskTemplate?.ContainerSpec?.Secrets?.find((r) => r.File?.Name === "tls.key");
  t.same(key?.File, { Name: "tls.key", UID: "0", GID: "101", Mode: 0o440 });
});

t.test("remove drops other managed references, never the replaced ones", async (t) => {
  const patched = patchServiceSecrets(spec("rich"), {
    replace: [rotate[0]!],
    remove: (r) => /^fx\.(api|bundle)\./.test(r.SecretName ?? ""),
  });
  t.same(patched.TaskTemplate?.ContainerSpec?.Secrets?.map((r) => r.SecretName), ["fx.other.db-password", "fx.api.crt.v2"]);
});

t.test("removing every reference drops the Secrets field; empty patch of a spec without secrets changes nothing", async (t) => {
  const none = patchServiceSecrets(spec("hostport"), { replace: [], remove: () => true });
  t.equal(none.TaskTemplate?.ContainerSpec?.Secrets, undefined);
  t.same(withoutSecrets(none), withoutSecrets(spec("hostport")));
  t.same(patchServiceSecrets(spec("plain"), { replace: [] }), spec("plain"));
  t.same(patchServiceSecrets({}, { replace: [] }), { TaskTemplate: { ContainerSpec: {} } });
});

t.test("duplicate targets collapse to one reference", async (t) => {
  const s: ServiceSpec = {
    TaskTemplate: {
      ContainerSpec: {
        Secrets: [
          { File: { Name: "tls.crt", UID: "0", GID: "0", Mode: 0o444 }, SecretID: "a", SecretName: "a" },
          { File: { Name: "tls.crt", UID: "0", GID: "0", Mode: 0o444 }, SecretID: "b", SecretName: "b" },
        ],
      },
    },
  };
  const p = patchServiceSecrets(s, { replace: [{ secretId: "n", secretName: "n", target: "tls.crt" }] });
  t.same(p.TaskTemplate?.ContainerSpec?.Secrets?.map((r) => r.SecretID), ["n"]);
});

t.test("unknown fields on a reference survive", async (t) => {
  const s: ServiceSpec = {
    TaskTemplate: { ContainerSpec: { Secrets: [{ File: { Name: "tls.crt", UID: "0", GID: "0", Mode: 0o444, Future: 1 }, SecretID: "a", SecretName: "a", Extra: "x" }] } },
  };
  const p = patchServiceSecrets(s, { replace: [{ secretId: "n", secretName: "n", target: "tls.crt" }] });
  t.same(p.TaskTemplate?.ContainerSpec?.Secrets, [{ File: { Name: "tls.crt", UID: "0", GID: "0", Mode: 0o444, Future: 1 }, SecretID: "n", SecretName: "n", Extra: "x" }]);
});

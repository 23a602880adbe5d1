// Property-based test of the spec patch: for every generated service spec, swapping the managed secrets keeps every
// other field exactly, replaces the managed references in place, and is idempotent.
import fc from "fast-check";
import t from "tap";
import type { ServiceSpec, SecretReference } from "../../../src/swarm/docker-types.js";
import { patchServiceSecrets, type SecretAttachment } from "../../../src/swarm/patch-service-secrets.js";

const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.array(tie("value"), { maxLength: 3 }), fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), tie("value"), { maxKeys: 3 })),
})).value;

const target = fc.constantFrom("tls.crt", "tls.key", "ca.crt", "db-pass", "app.conf", "other");
const ref: fc.Arbitrary<SecretReference> = fc.record({
  File: fc.record({ Name: target, UID: fc.constantFrom("0", "101"), GID: fc.constantFrom("0", "101"), Mode: fc.constantFrom(0o400, 0o444, 0o440) }),
  SecretID: fc.stringMatching(/^[a-z0-9]{25}$/),
  SecretName: fc.stringMatching(/^[a-z][a-z0-9.]{2,20}$/),
});

const spec: fc.Arbitrary<ServiceSpec> = fc.record({
  Name: fc.stringMatching(/^[a-z][a-z0-9_-]{0,20}$/),
  Labels: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 4 }),
  TaskTemplate: fc.record({
    ContainerSpec: fc.record({
      Image: fc.constant("busybox"),
      Env: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
      Secrets: fc.uniqueArray(ref, { selector: (r) => r.File?.Name, maxLength: 5 }),
      Configs: fc.array(json, { maxLength: 2 }),
      Mounts: fc.array(json, { maxLength: 2 }),
      Extra: json,
    }),
    Networks: fc.array(json, { maxLength: 2 }),
    Resources: json,
  }),
  UpdateConfig: fc.record({ Parallelism: fc.nat(4), Order: fc.constantFrom("start-first", "stop-first") }),
  Mode: json,
  Unknown: json,
}) as unknown as fc.Arbitrary<ServiceSpec>;

const attachments: SecretAttachment[] = [
  { secretId: "newcrt", secretName: "mtls.x.crt.v2", target: "tls.crt", uid: "0", gid: "0", mode: 0o444 },
  { secretId: "newkey", secretName: "mtls.x.key.v2", target: "tls.key", uid: "101", gid: "101", mode: 0o400 },
  { secretId: "newca", secretName: "mtls.bundle.v1", target: "ca.crt", uid: "0", gid: "0", mode: 0o444 },
];

t.test("patching keeps every field but the managed secret references", async (t) => {
  fc.assert(
    fc.property(spec, (s) => {
      const before = structuredClone(s);
      const patched = patchServiceSecrets(s, { replace: attachments });
      if (JSON.stringify(s) !== JSON.stringify(before)) return false; // input untouched
      const strip = (x: ServiceSpec) => {
        const c = structuredClone(x) as ServiceSpec & { TaskTemplate: { ContainerSpec: { Secrets?: unknown } } };
        delete c.TaskTemplate.ContainerSpec.Secrets;
        return c;
      };
      t.same(strip(patched), strip(s));
      const refs = patched.TaskTemplate?.ContainerSpec?.Secrets ?? [];
      const byTarget = new Map(refs.map((r) => [r.File?.Name, r]));
      // managed targets point at the new secrets, exactly once each
      for (const a of attachments) {
        if (byTarget.get(a.target)?.SecretID !== a.secretId) return false;
        if (refs.filter((r) => r.File?.Name === a.target).length !== 1) return false;
      }
      // other references are kept as they were, in order
      const others = (xs: SecretReference[]) => xs.filter((r) => !attachments.some((a) => a.target === r.File?.Name));
      if (JSON.stringify(others(refs)) !== JSON.stringify(others(s.TaskTemplate?.ContainerSpec?.Secrets ?? []))) return false;
      // idempotent
      return JSON.stringify(patchServiceSecrets(patched, { replace: attachments })) === JSON.stringify(patched);
    }),
    { numRuns: 500 },
  );
});

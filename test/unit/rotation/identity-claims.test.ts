/**
 * Unique identities and SPIFFE IDs, decided on plain data: who claims what, and the namespace label a service may
 * carry. The real-swarm side is test/integration/rotation/conflicting-identities.test.ts.
 */
import "reflect-metadata";
import t from "tap";
import { identityClaimConflicts } from "../../../src/rotation/identity-claims.js";
import { checkStackNamespace, readServiceIdentity } from "../../../src/rotation/service-identity.js";

const defaults = { prefix: "mtls.", trustDomain: "example.org", ttlSeconds: 86400, maxTtlSeconds: 7 * 86400, keyAlgorithm: "ecdsa-p256" as const };
const read = (name: string, labels: Record<string, string> = {}) => readServiceIdentity({ id: name, name, labels: { "mtls.enable": "true", ...labels } }, defaults);

t.test("one SPIFFE ID claimed by two services: both refused, each reason names both", async (t) => {
  const r = identityClaimConflicts(
    [
      { serviceName: "shop_api", identity: "shop_api", spiffeId: "spiffe://example.org/swarm/shop/api" },
      { serviceName: "api", identity: "api", spiffeId: "spiffe://example.org/swarm/shop/api" },
      { serviceName: "web", identity: "web", spiffeId: "spiffe://example.org/id/web" },
    ],
    "mtls.",
  );
  t.same([...r.keys()].sort(), ["api", "shop_api"], "only the two claimants are refused");
  for (const svc of ["api", "shop_api"]) {
    t.equal(r.get(svc), "SPIFFE ID 'spiffe://example.org/swarm/shop/api' is claimed by several services (api, shop_api); each service needs its own");
  }
});

t.test("one identity claimed by two services: the identity reason comes first, naming the label", async (t) => {
  const r = identityClaimConflicts(
    [
      { serviceName: "a", identity: "shared", spiffeId: "spiffe://example.org/id/shared" },
      { serviceName: "b", identity: "shared", spiffeId: "spiffe://example.org/id/shared" },
    ],
    "mtls.",
  );
  t.equal(r.get("a"), "identity 'shared' is claimed by several services (a, b); give each its own mtls.identity");
  t.equal(r.get("b"), r.get("a"));
});

t.test("distinct claims: nobody refused", async (t) => {
  const r = identityClaimConflicts(
    [
      { serviceName: "shop_api", identity: "shop_api", spiffeId: "spiffe://example.org/swarm/shop/api" },
      { serviceName: "shop2_api", identity: "shop2_api", spiffeId: "spiffe://example.org/swarm/shop2/api" },
    ],
    "mtls.",
  );
  t.equal(r.size, 0);
});

t.test("stack namespace: only the stack the service name carries", async (t) => {
  t.doesNotThrow(() => checkStackNamespace("shop_api", "shop"));
  t.doesNotThrow(() => checkStackNamespace("api", null));
  for (const [name, stack] of [
    ["api", "shop"],
    ["shopapi", "shop"],
    ["shop_", "shop"],
    ["other_api", "shop"],
  ] as const) {
    t.throws(() => checkStackNamespace(name, stack), { code: "bad-input", message: `label com.docker.stack.namespace: '${stack}' is not the stack of service '${name}'` }, `${name} in ${stack}`);
  }
});

t.test("a standalone service labelled into a stack gets no identity (it would take the stack service's SPIFFE ID)", async (t) => {
  t.equal(read("shop_api", { "com.docker.stack.namespace": "shop" }).spiffeId, "spiffe://example.org/swarm/shop/api", "the real stack service");
  t.throws(() => read("api", { "com.docker.stack.namespace": "shop" }), {
    code: "bad-input",
    message: /^label com\.docker\.stack\.namespace: 'shop' is not the stack of service 'api'/,
  });
  t.equal(read("api").spiffeId, "spiffe://example.org/id/api", "without the label it is an identity of its own");
});

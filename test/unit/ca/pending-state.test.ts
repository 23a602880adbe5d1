/** The pending intermediate as the store keeps it: sealed under the KEK, authenticated, refused when changed. */
import t from "tap";
import { randomBytes } from "node:crypto";
import { openPendingIntermediate, sealPendingIntermediate } from "../../../src/ca/pending-state.js";
import { createPendingIntermediate } from "../../../src/ca/upstream.js";
import { expectMtlsError } from "../../helpers/expect-error.js";

const kek = randomBytes(32);
const pending = await createPendingIntermediate({ trustDomain: "example.org", keyAlgorithm: "ecdsa-p384", maxLeafTtlSeconds: 3600, now: new Date("2026-01-01T00:00:00Z") });
const doc = sealPendingIntermediate(pending, kek);

t.test("sealed and opened again: the same key, CSR and settings; no clear key in the document", async (t) => {
  t.notMatch(doc, /PRIVATE KEY/);
  const back = openPendingIntermediate(doc, kek);
  t.same([back.trustDomain, back.defaultKeyAlgorithm, back.maxLeafTtlSeconds, back.csrPem, back.createdAt.toISOString()], ["example.org", "ecdsa-p384", 3600, pending.csrPem, "2026-01-01T00:00:00.000Z"]);
  t.ok(back.privateKey.export({ type: "pkcs8", format: "der" }).equals(pending.privateKey.export({ type: "pkcs8", format: "der" })), "the same key");
});

t.test("another KEK is a KEK error; a changed field or another CSR is refused", async (t) => {
  expectMtlsError(t, () => openPendingIntermediate(doc, randomBytes(32)), "kek", /does not open the pending intermediate/);
  const changed = JSON.parse(doc) as Record<string, unknown>;
  changed.maxLeafTtlSeconds = 999999;
  t.throws(() => openPendingIntermediate(JSON.stringify(changed), kek), /does not verify: it was changed outside swarm-mtls/);
  const other = await createPendingIntermediate({ trustDomain: "example.org", maxLeafTtlSeconds: 3600 });
  const swapped = { ...(JSON.parse(doc) as Record<string, unknown>), csrPem: other.csrPem };
  t.throws(() => openPendingIntermediate(JSON.stringify(swapped), kek), /does not verify/);
  t.throws(() => openPendingIntermediate("{", kek), /malformed: not JSON/);
  t.throws(() => openPendingIntermediate(JSON.stringify({ format: "swarm-mtls/ca-state", version: 2 }), kek), /malformed/);
});

/**
 * Which config names are versions of one CA's state: what `serve` re-reads when Docker says such a config was created
 * (a CLI `rotate-ca` or `restore`), and what the swarm store reads its newest version from.
 */
import t from "tap";
import { caStateConfigPattern } from "../../../src/store/swarm-store.js";

t.test("the versions <caStateName>.v<N> of this CA, nothing else", async (t) => {
  const ours = caStateConfigPattern("mtls.ca-state");
  for (const name of ["mtls.ca-state.v1", "mtls.ca-state.v2", "mtls.ca-state.v1234"]) t.ok(ours.test(name), `${name} is a version`);
  for (const name of [
    "mtls.ca-state.pending", // init --intermediate-csr's pending intermediate
    "mtls.ca-state.v0",
    "mtls.ca-state.v01",
    "mtls.ca-state.v",
    "mtls.ca-state.v1x",
    "mtls.ca-state2.v1", // another CA's state
    "mtlsxca-state.v1", // the dots are dots
    "xmtls.ca-state.v1",
    "mtls.lock", // the lease
    "mtls.ca-state.v1.bak",
  ])
    t.notOk(ours.test(name), `${name} is not`);
});

t.test("a caStateName with characters a regular expression would read is taken as written", async (t) => {
  const ours = caStateConfigPattern("mtls.test-ab+c.ca-state");
  t.ok(ours.test("mtls.test-ab+c.ca-state.v3"));
  t.notOk(ours.test("mtls.test-abbc.ca-state.v3"));
});

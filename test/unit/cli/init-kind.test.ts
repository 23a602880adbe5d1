/** Which `init` the flags ask for, and which flags do not go together under an upstream CA. */
import t from "tap";
import { initKind } from "../../../src/cli/init-upstream.js";

t.test("own CA, step 1 (CSR) or step 2 (import)", async (t) => {
  t.equal(initKind({ trustDomain: "a.example", offlineRoot: "root.key" }), "own");
  t.equal(initKind({ intermediateCsr: "i.csr", trustDomain: "a.example", keyAlg: "ecdsa-p384", maxLeafTtl: "2d", force: true }), "csr");
  t.equal(initKind({ importIntermediate: "i.pem", upstreamBundle: "root.pem", force: true }), "import");
});

t.test("flags that do not apply are refused, naming them", async (t) => {
  t.throws(() => initKind({ intermediateCsr: "i.csr", importIntermediate: "i.pem" }), /two init commands/);
  t.throws(() => initKind({ intermediateCsr: "i.csr", rootTtl: "10y", offlineRoot: "k" }), /--root-ttl, --offline-root do not apply/);
  t.throws(() => initKind({ importIntermediate: "i.pem" }), /go together/);
  t.throws(() => initKind({ upstreamBundle: "root.pem" }), /go together/);
  t.throws(() => initKind({ importIntermediate: "i.pem", upstreamBundle: "root.pem", trustDomain: "b.example" }), /--trust-domain do not apply \(the trust domain, key algorithm and leaf limit were set by --intermediate-csr/);
});

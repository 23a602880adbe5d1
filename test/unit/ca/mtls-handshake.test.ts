import t from "tap";
import { connect, createServer, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { bundlePem, createAuthority, issueLeafSync, KEY_ALGORITHMS, spiffeIdFor, type Authority, type IssuedLeaf } from "../../../src/ca/index.js";

interface HandshakeOutcome {
  /** What the client read from the server ("hello <client SPIFFE ID>") or undefined when it was refused. */
  reply?: string;
  clientError?: string;
  /** Whether the server's connection handler ran (it only runs for authorised clients). */
  accepted: boolean;
  /** Why the server did not authorise the client (socket.authorizationError, e.g. CERT_HAS_EXPIRED). */
  authorizationError?: string;
}

/** Starts an mTLS server on 127.0.0.1:0 with `server`, connects with `client`, reports what each side saw. */
async function handshake(
  trust: string,
  server: IssuedLeaf,
  client: IssuedLeaf,
  clientTrust = trust,
  rejectUnauthorized = true,
): Promise<HandshakeOutcome> {
  const outcome: HandshakeOutcome = { accepted: false };
  const srv = createServer(
    { key: server.keyPem, cert: server.chainPem, ca: trust, requestCert: true, rejectUnauthorized },
    (socket: TLSSocket) => {
      outcome.accepted = true;
      if (!socket.authorized) {
        outcome.authorizationError = String(socket.authorizationError);
        socket.end();
        return;
      }
      const peer = socket.getPeerCertificate();
      const uri = (peer.subjectaltname ?? "").split(", ").find((n) => n.startsWith("URI:"));
      socket.end(`hello ${uri?.slice(4) ?? "?"}`);
    },
  );
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    await new Promise<void>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port, servername: "api", key: client.keyPem, cert: client.chainPem, ca: clientTrust });
      let data = "";
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => (data += d));
      socket.on("error", (e) => {
        outcome.clientError ??= e.message;
      });
      socket.on("close", () => {
        if (data !== "") outcome.reply = data;
        resolve();
      });
    });
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
  return outcome;
}

const spiffe = (a: Authority, service: string): string => spiffeIdFor({ trustDomain: a.trustDomain, stack: "shop", service, identity: service });

for (const alg of KEY_ALGORITHMS) {
  t.test(`${alg}: two issued identities complete an mTLS handshake and the server sees the client's SPIFFE ID`, async (t) => {
    const { authority } = await createAuthority({ trustDomain: "example.org", keyAlgorithm: alg });
    const api = issueLeafSync(authority, { identity: "shop_api", dnsNames: ["api"], spiffeId: spiffe(authority, "shop_api") });
    const web = issueLeafSync(authority, { identity: "shop_web", dnsNames: ["web"], spiffeId: spiffe(authority, "shop_web") });
    const r = await handshake(bundlePem(authority), api, web);
    t.ok(r.accepted, "server accepted the client");
    t.equal(r.reply, "hello spiffe://example.org/swarm/shop/web");
  });
}

t.test("a client certificate from a foreign CA is refused", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const { authority: foreign } = await createAuthority({ trustDomain: "example.org" });
  const api = issueLeafSync(authority, { identity: "shop_api", dnsNames: ["api"] });
  const intruder = issueLeafSync(foreign, { identity: "shop_web", spiffeId: "spiffe://example.org/swarm/shop/web" });
  const r = await handshake(bundlePem(authority), api, intruder);
  t.equal(r.accepted, false, "the server (requestCert + rejectUnauthorized) dropped the client");
  t.equal(r.reply, undefined, "the client got no answer");
  const why = await handshake(bundlePem(authority), api, intruder, bundlePem(authority), false);
  t.equal(why.authorizationError, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "the reason the server sees");
});

t.test("an expired client certificate is refused", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org", now: new Date(Date.now() - 30 * 86400_000) });
  const api = issueLeafSync(authority, { identity: "shop_api", dnsNames: ["api"] });
  const stale = issueLeafSync(authority, {
    identity: "shop_web",
    spiffeId: "spiffe://example.org/swarm/shop/web",
    now: new Date(Date.now() - 2 * 86400_000),
    ttlSeconds: 3600,
  });
  t.ok(stale.notAfter.getTime() < Date.now(), "the client certificate expired a day ago");
  const r = await handshake(bundlePem(authority), api, stale);
  t.equal(r.accepted, false, "the server (requestCert + rejectUnauthorized) dropped the client");
  t.equal(r.reply, undefined, "the client got no answer");
  const why = await handshake(bundlePem(authority), api, stale, bundlePem(authority), false);
  t.equal(why.authorizationError, "CERT_HAS_EXPIRED", "the reason the server sees");
});

t.test("a client that does not trust the server's CA refuses it", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const { authority: other } = await createAuthority({ trustDomain: "example.org" });
  const api = issueLeafSync(authority, { identity: "shop_api", dnsNames: ["api"] });
  const web = issueLeafSync(authority, { identity: "shop_web" });
  const r = await handshake(bundlePem(authority), api, web, bundlePem(other));
  t.equal(r.reply, undefined);
  t.equal(r.accepted, false);
  t.match(r.clientError ?? "", /certificate/i, `client refused: ${r.clientError}`);
});

/**
 * The API's own certificate is renewed while serve runs: at 2/3 of its lifetime and after a CA rotation, swapped
 * into the running TLS listener (a new connection sees the new certificate).
 */
import { X509Certificate } from "node:crypto";
import { connect, createServer, type Server } from "node:tls";
import t from "tap";
import { createAuthority } from "../../../src/ca/index.js";
import { apiCertNames, apiCertRenewalReason, apiCertRenewalTime, issueApiCert, keepApiCertFresh } from "../../../src/cli/serve-api-cert.js";
import { createLogger } from "../../../src/log.js";

const DAY = 86400_000;

t.test("renewal time: 2/3 into the lifetime", async (t) => {
  const nb = new Date("2026-01-01T00:00:00Z");
  t.equal(apiCertRenewalTime(nb, new Date(nb.getTime() + 7 * DAY)).toISOString(), new Date(nb.getTime() + (14 / 3) * DAY).toISOString(), "7-day certificate: after 4 2/3 days");
  t.equal(apiCertRenewalTime(nb, new Date(nb.getTime() + 3 * 3600_000)).toISOString(), "2026-01-01T02:00:00.000Z", "3-hour certificate (a CA with maxLeafTtl 3h): after 2 hours");
  t.equal(apiCertRenewalTime(nb, new Date(nb.getTime() + 100_000), 0.5).toISOString(), "2026-01-01T00:00:50.000Z");
});

const { authority } = await createAuthority({ trustDomain: "example.org" });
const { authority: rotated } = await createAuthority({ trustDomain: "example.org" });

t.test("renewal reason: due after 2/3, ca-rotated when the CA changed, else none", async (t) => {
  const c = await issueApiCert(authority, ["localhost"]);
  t.equal(c.notAfter.getTime() - c.notBefore.getTime() <= 7 * DAY + 120_000, true, "at most 7 days (+ the skew backdating)");
  const renewAt = apiCertRenewalTime(c.notBefore, c.notAfter);
  t.equal(apiCertRenewalReason(c, authority, new Date(renewAt.getTime() - 1000)), null, "just before: keep");
  t.equal(apiCertRenewalReason(c, authority, renewAt), "due", "at 2/3: due");
  t.equal(apiCertRenewalReason(c, rotated, c.notBefore), "ca-rotated", "another intermediate: renew at once");
});

function peerSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false }, () => {
      const serial = s.getPeerCertificate().serialNumber.toLowerCase();
      s.end();
      resolve(serial);
    });
    s.on("error", reject);
  });
}

t.test("a renewed certificate is served by the running listener", async (t) => {
  const first = await issueApiCert(authority, ["localhost"]);
  const server: Server = createServer({ key: first.key, cert: first.cert }, (sock) => sock.end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const firstSerial = new X509Certificate(first.cert).serialNumber.toLowerCase();
  t.equal(await peerSerial(port), firstSerial, "serves the first certificate");

  let clock = new Date(first.notBefore.getTime() + DAY);
  let ca = authority;
  const renewal = keepApiCertFresh({ server, current: first, authority: () => ca, dnsNames: ["localhost"], logger: createLogger({ level: "silent" }), now: () => clock, checkEveryMs: 3600_000 });
  t.teardown(() => renewal.stop());
  t.equal(await renewal.check(), null, "one day in: nothing to do");
  t.equal(await peerSerial(port), firstSerial);

  clock = new Date(first.notBefore.getTime() + 5 * DAY);
  t.equal(await renewal.check(), "due", "five days in: renewed");
  const second = renewal.current();
  const secondSerial = new X509Certificate(second.cert).serialNumber.toLowerCase();
  t.not(secondSerial, firstSerial);
  t.equal(await peerSerial(port), secondSerial, "a new connection gets the renewed certificate");

  ca = rotated;
  clock = new Date(second.notBefore.getTime() + 1000);
  t.equal(await renewal.check(), "ca-rotated", "after a CA rotation: renewed at once");
  const third = renewal.current();
  t.ok(new X509Certificate(third.cert).checkIssued(new X509Certificate(rotated.intermediate.certPem)), "issued by the new intermediate");
  t.equal(await peerSerial(port), new X509Certificate(third.cert).serialNumber.toLowerCase(), "and served");
});

t.test("API certificate names: loopback names, the host name, the listen host, and api.names (DNS names and IPs)", async (t) => {
  t.same(apiCertNames({ listenHost: "0.0.0.0", hostName: "4f2a9c1b7d3e" }), { dnsNames: ["localhost", "4f2a9c1b7d3e"], ipAddresses: ["127.0.0.1", "::1"] }, "a wildcard listener adds nothing");
  t.same(
    apiCertNames({ listenHost: "10.0.0.5", hostName: "box", names: ["Manager-1", " ca.example.org ", "192.0.2.7", "[2001:DB8::1]", ""] }),
    { dnsNames: ["localhost", "box", "manager-1", "ca.example.org"], ipAddresses: ["127.0.0.1", "::1", "10.0.0.5", "192.0.2.7", "2001:db8::1"] },
  );
  t.same(apiCertNames({ listenHost: "127.0.0.1", hostName: "under_score" }).dnsNames, ["localhost"], "a host name that is no DNS name is left out");
  t.throws(() => apiCertNames({ listenHost: "0.0.0.0", hostName: "box", names: ["ca_1.example.org"] }), {
    code: "bad-input",
    message: /^api\.names: 'ca_1\.example\.org' is neither a DNS name nor an IP address \(DNS name 'ca_1\.example\.org' contains '_'/,
  });
});

t.test("the API certificate carries IP SANs that Node's TLS checks", async (t) => {
  const names = apiCertNames({ listenHost: "0.0.0.0", hostName: "box", names: ["ca.example.test", "192.0.2.7"] });
  const c = await issueApiCert(authority, names.dnsNames, { ipAddresses: names.ipAddresses });
  const x = new X509Certificate(c.cert);
  t.equal(x.subjectAltName, "DNS:localhost, DNS:box, DNS:ca.example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192.0.2.7");
  t.equal(x.checkIP("192.0.2.7"), "192.0.2.7");
  t.equal(x.checkIP("::1"), "::1");
  t.equal(x.checkHost("ca.example.test"), "ca.example.test");
});

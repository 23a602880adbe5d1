/** The checks serve makes on its listen address before anything starts. Pure functions. */
import t from "tap";
import { isLoopbackHost, listenFailure, parseListen, plainHttpRefusal } from "../../../src/cli/serve.js";
import { isMtlsError } from "../../../src/errors.js";

t.test("parseListen: HOST:PORT, IPv6 in brackets; anything else is bad input naming the flag", async (t) => {
  t.same(parseListen("127.0.0.1:8443"), { host: "127.0.0.1", port: 8443, text: "127.0.0.1:8443" });
  t.same(parseListen("[::1]:9000"), { host: "::1", port: 9000, text: "[::1]:9000" });
  t.same(parseListen("localhost:1"), { host: "localhost", port: 1, text: "localhost:1" });
  for (const bad of ["nope", "127.0.0.1", ":8443", "host:99999", "a b:1", "::1:8443"]) {
    t.throws(() => parseListen(bad), { code: "bad-input", message: new RegExp(`--listen: '${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}' must be HOST:PORT`) }, bad);
  }
  t.throws(() => parseListen("x", "api.listen"), { message: /^api\.listen: 'x'/ }, "names the setting when it came from config");
});

t.test("isLoopbackHost", async (t) => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) t.ok(isLoopbackHost(h), h);
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.org", "128.0.0.1"]) t.notOk(isLoopbackHost(h), h);
});

t.test("plain HTTP is refused on a non-loopback listener, with what to do", async (t) => {
  const any = parseListen("0.0.0.0:8443");
  const lo = parseListen("127.0.0.1:8443");
  const flag = plainHttpRefusal({ listen: any, tlsFlag: false, tlsSetting: "auto", swarmMode: true });
  t.match(flag, /^--no-tls serves plain HTTP, which is only allowed on a loopback listener, not 0\.0\.0\.0:8443: listen on 127\.0\.0\.1:8443/);
  t.match(flag, /drop --no-tls to serve HTTPS/);
  t.match(plainHttpRefusal({ listen: any, tlsSetting: "off", swarmMode: true }), /^api\.tls: off serves plain HTTP/, "the config setting is named when it is the cause");
  t.equal(plainHttpRefusal({ listen: lo, tlsFlag: false, tlsSetting: "auto", swarmMode: false }), null, "--no-tls on loopback is fine");
  t.equal(plainHttpRefusal({ listen: any, tlsFlag: true, tlsSetting: "off", swarmMode: false }), null, "--tls wins over api.tls: off");
  t.equal(plainHttpRefusal({ listen: any, tlsSetting: "auto", swarmMode: true }), null, "auto in swarm mode is HTTPS");
  t.equal(
    plainHttpRefusal({ listen: any, tlsSetting: "auto", swarmMode: false }),
    "api.tls: auto serves plain HTTP on the file store (no swarm), which is only allowed on a loopback listener, not 0.0.0.0:8443: listen on 127.0.0.1:8443 (--listen), or pass --tls (api.tls: on) to serve HTTPS with the file store's CA",
    "auto on the file store (plain HTTP) is refused on 0.0.0.0",
  );
  t.equal(plainHttpRefusal({ listen: parseListen("[::]:8443"), tlsSetting: "auto", swarmMode: false })?.startsWith("api.tls: auto"), true, "and on ::");
  t.equal(plainHttpRefusal({ listen: lo, tlsSetting: "auto", swarmMode: false }), null, "auto on the file store on loopback is fine");
});

t.test("listenFailure turns socket errors into one line naming the address and what to do", async (t) => {
  const l = parseListen("127.0.0.1:8443");
  const inUse = listenFailure(Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:8443"), { code: "EADDRINUSE" }), l);
  t.ok(isMtlsError(inUse, "bad-input"));
  t.equal(inUse?.message, "cannot listen on 127.0.0.1:8443: the address is already in use (another swarm-mtls serve?); stop that process or choose another port with --listen");
  t.match(listenFailure(Object.assign(new Error("x"), { code: "EADDRNOTAVAIL" }), l)?.message, /not an address of this host/);
  t.match(listenFailure(Object.assign(new Error("x"), { code: "EACCES" }), l)?.message, /permission denied/);
  t.equal(listenFailure(new Error("other"), l), null, "anything else is passed on as is");
});

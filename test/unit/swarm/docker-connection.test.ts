import t from "tap";
import { dockerConnectionFromEnv, resolveDockerEndpoint } from "../../../src/swarm/docker-connection.js";

t.test("no environment: default socket", async (t) => {
  t.same(dockerConnectionFromEnv({}), {});
  t.same(resolveDockerEndpoint({}), { socketPath: "/var/run/docker.sock", timeoutMs: 30_000 });
});

t.test("DOCKER_HOST unix:// becomes a socket path", async (t) => {
  const p = dockerConnectionFromEnv({ DOCKER_HOST: "unix:///run/user/1000/docker.sock" });
  t.same(p, { socketPath: "/run/user/1000/docker.sock" });
  t.same(resolveDockerEndpoint(p), { socketPath: "/run/user/1000/docker.sock", timeoutMs: 30_000 });
  t.same(resolveDockerEndpoint({ host: "unix:///x.sock" }), { socketPath: "/x.sock", timeoutMs: 30_000 });
});

t.test("tcp with TLS verify and cert path, as the docker CLI", async (t) => {
  const p = dockerConnectionFromEnv({ DOCKER_HOST: "tcp://10.1.2.3:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/certs", DOCKER_CLIENT_TIMEOUT: "90" });
  t.same(p, { host: "tcp://10.1.2.3:2376", tlsVerify: true, certPath: "/certs", timeoutMs: 90_000 });
  t.same(resolveDockerEndpoint(p), {
    protocol: "https", hostname: "10.1.2.3", port: 2376, timeoutMs: 90_000,
    tls: { caFile: "/certs/ca.pem", certFile: "/certs/cert.pem", keyFile: "/certs/key.pem", verify: true },
  });
});

t.test("tcp without TLS verify is plain http; TLS certs default to ~/.docker", async (t) => {
  t.same(resolveDockerEndpoint({ host: "tcp://127.0.0.1:2375" }), { protocol: "http", hostname: "127.0.0.1", port: 2375, timeoutMs: 30_000 });
  t.same(resolveDockerEndpoint({ host: "127.0.0.1", tlsVerify: true }, "/home/op"), {
    protocol: "https", hostname: "127.0.0.1", port: 2376, timeoutMs: 30_000,
    tls: { caFile: "/home/op/.docker/ca.pem", certFile: "/home/op/.docker/cert.pem", keyFile: "/home/op/.docker/key.pem", verify: true },
  });
  t.equal(dockerConnectionFromEnv({ DOCKER_TLS_VERIFY: "" }).tlsVerify, undefined);
  t.equal(dockerConnectionFromEnv({ DOCKER_TLS_VERIFY: "0" }).tlsVerify, undefined);
});

t.test("an https:// engine with DOCKER_CERT_PATH but no DOCKER_TLS_VERIFY is still verified", async (t) => {
  const p = dockerConnectionFromEnv({ DOCKER_HOST: "https://engine.example:2376", DOCKER_CERT_PATH: "/certs" });
  t.equal(p.tlsVerify, undefined);
  t.same(resolveDockerEndpoint(p), {
    protocol: "https", hostname: "engine.example", port: 2376, timeoutMs: 30_000,
    tls: { caFile: "/certs/ca.pem", certFile: "/certs/cert.pem", keyFile: "/certs/key.pem", verify: true },
  }, "the engine's certificate is checked against ca.pem");
});

t.test("unsupported scheme is refused", async (t) => {
  t.throws(() => resolveDockerEndpoint({ host: "ssh://op@host" }), /unsupported docker host scheme ssh:/);
});

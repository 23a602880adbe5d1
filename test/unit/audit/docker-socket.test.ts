import t from "tap";
import { readEngineAccess } from "../../../src/audit/audit-inventory.js";
import { dockerSocketMount } from "../../../src/audit/checks/docker-socket-mount.js";
import { engineWithoutTls } from "../../../src/audit/checks/engine-without-tls.js";
import { auditContext, capturedInventory, editedService } from "../../fixtures/audit/load-audit-fixture.js";

const ctx = auditContext();

t.test("SOCK001: aud-agent bind-mounts /var/run/docker.sock", async (t) => {
  const [f, ...rest] = dockerSocketMount.run(capturedInventory(), ctx);
  t.same(rest, []);
  t.equal(f!.severity, "critical");
  t.same(f!.object, { kind: "service", name: "aud-agent" });
  t.equal(f!.message, "bind-mounts the engine socket /var/run/docker.sock at /var/run/docker.sock");
  t.match(f!.fix, /^docker service update --mount-rm \/var\/run\/docker\.sock aud-agent/);
});

t.test("SOCK001: swarm-mtls itself may mount the socket; /run/docker.sock read-only elsewhere may not", async (t) => {
  const inv = capturedInventory();
  const agent = (image: string, labels: Record<string, string>, source: string) =>
    editedService(inv, "aud-agent", (spec) => {
      spec.TaskTemplate!.ContainerSpec!.Image = image;
      spec.Labels = labels;
      spec.TaskTemplate!.ContainerSpec!.Mounts = [{ Type: "bind", Source: source, Target: "/var/run/docker.sock", ReadOnly: true }];
    });
  inv.services = [agent("swarm-mtls/ca:local", {}, "/var/run/docker.sock"), agent("busybox", { "io.swarm-mtls.role": "ca" }, "/var/run/docker.sock")];
  t.same(dockerSocketMount.run(inv, ctx), []);
  inv.services = [agent("portainer/agent", {}, "/run/docker.sock")];
  t.match(dockerSocketMount.run(inv, ctx)[0]!.message, "(read-only does not limit the API)");
});

t.test("SOCK002: plain TCP is critical, on loopback high; TLS without a client certificate high; unix and verified TLS fine", async (t) => {
  const inv = capturedInventory();
  const run = (env: Parameters<typeof readEngineAccess>[0]) => engineWithoutTls.run({ ...inv, engine: readEngineAccess(env) }, ctx);
  const [remote] = run({ host: "tcp://10.0.0.5:2375" });
  t.equal(remote!.severity, "critical");
  t.same(remote!.object, { kind: "engine", name: "tcp://10.0.0.5:2375" });
  t.match(remote!.message, "over plain TCP, without TLS");
  t.match(remote!.fix, "--tlsverify");
  t.equal(run({ host: "tcp://127.0.0.1:2375" })[0]!.severity, "high");
  t.equal(run({ host: "http://localhost:2375" })[0]!.severity, "high");
  t.equal(run({ host: "https://10.0.0.5:2376" })[0]!.severity, "high", "TLS, but the daemon asked for no client certificate");
  t.same(run({ host: "tcp://10.0.0.5:2376", tlsVerify: true, certPath: "/certs" }), []);
  t.same(run({}), []);
  t.same(run({ socketPath: "/run/docker.sock" }), []);
});

t.test("readEngineAccess describes how we dialled", async (t) => {
  t.same(readEngineAccess({}), { address: "unix:///var/run/docker.sock", transport: "unix", tlsVerify: false, clientCert: false, loopback: true });
  t.same(readEngineAccess({ host: "tcp://10.0.0.5:2376", tlsVerify: true }), { address: "https://10.0.0.5:2376", transport: "tls", tlsVerify: true, clientCert: true, loopback: false });
  t.equal(readEngineAccess({ host: "10.0.0.5" }).address, "tcp://10.0.0.5:2376");
  t.equal(readEngineAccess({ host: "ssh://x" }).transport, "tcp", "an address we can't read is treated as TCP");
});

t.test("editedService leaves the fixture untouched", async (t) => {
  const inv = capturedInventory();
  editedService(inv, "aud-agent", (spec) => void (spec.TaskTemplate!.ContainerSpec!.Mounts = []));
  t.equal(dockerSocketMount.run(inv, ctx).length, 1);
});

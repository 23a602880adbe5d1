import { finding, type AuditCheck, type Finding } from "../finding.js";

/** SOCK002: the Docker API we reached listens on TCP without TLS (or with TLS but without client certificates). */
export const engineWithoutTls: AuditCheck = {
  id: "SOCK002",
  title: "Docker daemon listening on TCP without TLS",
  severity: "critical",
  severities: "critical on a network address; high on loopback or when TLS is on but no client certificate is asked for",
  why: "The Docker API has no authentication of its own: anyone who reaches a plain-TCP port (2375) gets root on the host and the swarm. Only TLS with client certificates (--tlsverify, port 2376) authenticates callers.",
  run(inv) {
    const e = inv.engine;
    const fix =
      "dockerd --tlsverify --tlscacert=ca.pem --tlscert=server-cert.pem --tlskey=server-key.pem -H tcp://0.0.0.0:2376 " +
      "(daemon.json \"tlsverify\": true), then DOCKER_HOST=tcp://<host>:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=<dir with ca.pem, cert.pem, key.pem>";
    const out: Finding[] = [];
    if (e.transport === "tcp") {
      out.push(
        finding(engineWithoutTls, {
          severity: e.loopback ? "high" : "critical",
          object: { kind: "engine", name: e.address },
          message: `the Docker API answered on ${e.address} over plain TCP, without TLS${e.loopback ? " (loopback: every local user and container with host networking reaches it)" : ""}`,
          fix,
        }),
      );
    } else if (e.transport === "tls" && !e.clientCert) {
      out.push(
        finding(engineWithoutTls, {
          severity: "high",
          object: { kind: "engine", name: e.address },
          message: `the Docker API answered on ${e.address} over TLS without our presenting a client certificate: it does not authenticate callers`,
          fix,
        }),
      );
    }
    return out;
  },
};

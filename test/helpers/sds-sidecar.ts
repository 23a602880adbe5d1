/**
 * A stand-in for an Envoy sidecar on the real swarm: an SDS stream (the Envoy-like client of sds-client.ts) opened
 * with the bootstrap files a service's task mounts, feeding a TLS server that swaps in every pushed working
 * certificate and bundle, while a client of the same CA (the bootstrap certificate) keeps handshaking with it. Every
 * pushed certificate is checked with `openssl verify` against the bundle pushed with it before it is served.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { keepHandshaking, type Handshakes } from "./handshakes.js";
import { streamSecrets, type SdsStreamClient } from "./sds-client.js";
import { docker, runningContainer, until } from "./swarm-test.js";

export interface Bootstrap {
  cert: string;
  key: string;
  ca: string;
}

/** The bootstrap files of the service's running task (waits for the task and its secrets), and its SPIFFE ID. */
export async function taskBootstrap(service: string): Promise<{ task: string; boot: Bootstrap; spiffeId: string }> {
  const read = (cid: string, file: string) => docker("exec", cid, "cat", `/run/secrets/${file}`);
  const task = await until(`${service}'s task with its bootstrap secrets`, 180_000, async () => {
    const c = await runningContainer(service, 10_000);
    return (await read(c, "tls.crt").catch(() => "")).includes("BEGIN CERTIFICATE") ? c : undefined;
  });
  const boot = { cert: await read(task, "tls.crt"), key: await read(task, "tls.key"), ca: await read(task, "ca.crt") };
  const spiffeId = /URI:(spiffe:\/\/[^,\s]+)/.exec(new X509Certificate(boot.cert).subjectAltName ?? "")?.[1] ?? "";
  return { task, boot, spiffeId };
}

/** One push the sidecar accepted: what OpenSSL said, and who issued the working certificate. */
export interface SidecarPush {
  /** `openssl verify` of the pushed chain against the pushed bundle, e.g. "…/leaf.pem: OK". */
  verify: string;
  /** Fingerprint (SHA-256) of the intermediate that issued the working certificate. */
  issuer: string;
  serial: string;
}

export interface SdsSidecar {
  stream: SdsStreamClient;
  pushes: SidecarPush[];
  handshakes: Handshakes;
  /** Stops the handshakes, the stream and the server. */
  stop(): Promise<void>;
}

export async function sdsSidecar(p: { sdsPort: number; boot: Bootstrap; spiffeId: string; trustDomain: string; dir: string }): Promise<SdsSidecar> {
  let current: { key: string; cert: string; ca: string } | null = null;
  const server = tls.createServer({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, (s) => s.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const pushes: SidecarPush[] = [];
  const bundleName = `spiffe://${p.trustDomain}`;
  const file = (name: string, text: string): string => {
    writeFileSync(join(p.dir, name), text);
    return join(p.dir, name);
  };
  const stream = streamSecrets(`127.0.0.1:${p.sdsPort}`, p.boot, [p.spiffeId, bundleName], {
    judge: (r) => {
      const cert = r.resources.find((x) => x.name === p.spiffeId)?.tls_certificate;
      const bundle = r.resources.find((x) => x.name === bundleName)?.validation_context?.trusted_ca.inline_bytes.toString();
      if (!cert || !bundle) return "missing a secret";
      const chain = cert.certificate_chain.inline_bytes.toString();
      const leaf = new X509Certificate(chain);
      const args = ["verify", "-CAfile", file("bundle.pem", bundle), "-untrusted", file("chain.pem", chain), file("leaf.pem", leaf.toString())];
      const verify = ((): string => {
        try {
          return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
        } catch (e) {
          return `${(e as { stdout?: string }).stdout ?? ""}${(e as { stderr?: string }).stderr ?? ""}`.trim();
        }
      })();
      const second = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.[1];
      pushes.push({ verify, issuer: second ? new X509Certificate(second).fingerprint256 : "", serial: leaf.serialNumber });
      if (!/: OK$/.test(verify)) return `does not verify: ${verify}`;
      current = { key: cert.private_key.inline_bytes.toString(), cert: chain, ca: bundle };
      server.setSecureContext({ ...current });
      return null;
    },
  });
  // The bootstrap certificate is the client, trusting the bundle pushed with the certificate the server serves.
  const handshakes = keepHandshaking(port, () => (current ? { ca: (current as { ca: string }).ca, cert: p.boot.cert, key: p.boot.key } : null), p.spiffeId);
  return {
    stream,
    pushes,
    handshakes,
    async stop() {
      await handshakes.stop();
      stream.close();
      server.close();
    },
  };
}

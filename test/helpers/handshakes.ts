/**
 * The other end of a test "sidecar": mTLS handshakes against a TLS server on 127.0.0.1 that serves whatever working
 * certificate its SDS stream was last pushed. A handshake succeeds only if the server's certificate chains to the
 * bundle the client trusts and names the expected SPIFFE ID, and the server accepts the client's certificate.
 */
import tls from "node:tls";

/** What a client presents and trusts: its certificate chain and key, and the bundle it verifies the server with. */
export interface HandshakeClient {
  ca: string;
  cert: string;
  key: string;
}

/** One handshake; null when it completed, else the error's message. */
export function handshakeOnce(port: number, client: HandshakeClient, serverId: string): Promise<string | null> {
  return new Promise((done) => {
    const sock = tls.connect(
      {
        host: "127.0.0.1", port, ...client, minVersion: "TLSv1.2",
        checkServerIdentity: (_h, peer) => (peer.subjectaltname?.includes(`URI:${serverId}`) ? undefined : new Error(`server is not ${serverId}`)),
      },
      () => {
        sock.end();
        done(null);
      },
    );
    sock.on("error", (e) => done(e.message));
  });
}

export interface Handshakes {
  /** Completed so far. */
  readonly ok: number;
  /** Each failed handshake's message. */
  readonly failures: string[];
  /** Stops after the handshake in flight. */
  stop(): Promise<void>;
}

/** Handshakes every `everyMs` (default 200) while `client()` gives something to present, until stopped. */
export function keepHandshaking(port: number, client: () => HandshakeClient | null, serverId: string, everyMs = 200): Handshakes {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      const c = client();
      if (c) {
        const failed = await handshakeOnce(port, c, serverId);
        if (failed === null) ok++;
        else failures.push(failed);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    get ok() {
      return ok;
    },
    failures,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/**
 * One mTLS exchange on 127.0.0.1 where both sides trust `trust` only: a server presenting `server` greets the client
 * with the SPIFFE ID of the certificate the client presented (`hello <uri>`); resolves with what the client read,
 * rejects with the TLS error.
 */
export async function mtlsHello(trust: string, server: { key: string; cert: string }, client: { key: string; cert: string }, serverName = "api"): Promise<string> {
  const srv = tls.createServer({ ...server, ca: trust, requestCert: true, rejectUnauthorized: true }, (socket: tls.TLSSocket) => {
    const uri = (socket.getPeerCertificate().subjectaltname ?? "").split(", ").find((n) => n.startsWith("URI:"));
    socket.end(`hello ${uri?.slice(4) ?? "?"}`);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as { port: number };
  try {
    return await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port, servername: serverName, ...client, ca: trust });
      let data = "";
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => (data += d));
      socket.on("error", reject);
      socket.on("close", () => resolve(data));
    });
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
}

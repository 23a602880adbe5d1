/**
 * The SDS server of `serve`: envoy.service.secret.v3.SecretDiscoveryService over gRPC (grpc-js), mTLS only.
 * A thin adapter: access (sds-access.ts), the stream protocol (sds-stream.ts) and working-certificate decisions
 * (working-cert.ts) are pure; this file holds the sockets, the timers and the in-memory certificates.
 */
import { randomBytes } from "node:crypto";
import { X509Certificate } from "node:crypto";
import type { SecureContextOptions } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { bundlePem, type Authority } from "../ca/index.js";
import type { Logger } from "../log.js";
import { auditRecord, writeAudit } from "../rotation/audit-record.js";
import { bundleResourceName, decideSdsAccess, sdsCaller, type SdsAccess, type SdsPeer, type SdsResourceRef } from "./sds-access.js";
import type { SdsMetrics } from "./sds-metrics.js";
import { loadSdsProtos, SECRET_TYPE_URL, type DiscoveryRequest, type DiscoveryResponse, type SecretResource } from "./sds-protos.js";
import { afterRequest, afterSend, needsPush, newStreamState, readRequest, versionOf, type StreamState } from "./sds-stream.js";
import { bundleVersion, issueWorkingCert, workingCertDue, type SdsIdentity, type WorkingCert } from "./working-cert.js";

/** grpc-js server credentials whose certificate and trust bundle can be replaced while serving (new handshakes). */
class SwappableServerCredentials extends grpc.ServerCredentials {
  constructor(initial: SecureContextOptions) {
    // requestCert + rejectUnauthorized: no client certificate, a foreign CA or an expired certificate fails the
    // handshake. TLS 1.2 is the floor.
    super({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, initial);
  }
  setSecureContext(options: SecureContextOptions): void {
    this.updateSecureContextOptions(options);
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export interface SdsServerParams {
  /** host:port (IPv6 as [::1]:port). */
  listen: string;
  /** The SDS listener's own certificate, key and the trust bundle client certificates must chain to. */
  tls: { key: string; cert: string; ca: string };
  authority: () => Authority | null;
  workingTtlSeconds: number;
  renewBefore: number;
  jitter: number;
  logger: Logger;
  metrics: SdsMetrics;
  /**
   * Re-reads who is opted in when a caller of this CA is not in the current list: a task of a newly labelled service
   * starts with its bootstrap secrets before the reconcile that published them has finished (the rollout still
   * watches the task), so its first request may come before the list is refreshed. Throttled by the caller.
   */
  reloadIdentities?: () => Promise<void>;
  /** How often due working certificates are looked for, ms; default 1000. */
  tickMs?: number;
  now?: () => Date;
}

interface OpenStream {
  id: number;
  call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  peer: SdsPeer | null;
  spiffeId: string | null;
  identity: string | null;
  state: StreamState;
  refs: SdsResourceRef[];
  sentAt: number;
  /** Requests of one stream are handled in order. */
  queue: Promise<void>;
  closed: boolean;
}

export interface SdsServer {
  /** The port bound (useful with port 0). */
  readonly port: number;
  /** New set of opted-in identities (after a reconcile): closes streams of identities no longer in it, pushes what changed. */
  refresh(identities: readonly SdsIdentity[]): Promise<void>;
  /** The listener's own credentials (for renewal). */
  credentials: { setSecureContext(o: SecureContextOptions): void };
  /** The opted-in identity with this SPIFFE ID in the current list, or undefined. */
  identity(spiffeId: string): SdsIdentity | undefined;
  /** Open streams, for tests and status. */
  streams(): { spiffeId: string | null; names: string[]; acked: string | null }[];
  stop(): Promise<void>;
}

const GRPC_CODE = { unauthenticated: grpc.status.UNAUTHENTICATED, "permission-denied": grpc.status.PERMISSION_DENIED, "invalid-argument": grpc.status.INVALID_ARGUMENT } as const;

function peerOf(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer; subjectaltname?: string } } | null }): SdsPeer | null {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert?.raw || cert.raw.length === 0) return null;
  const x = new X509Certificate(cert.raw);
  return { subjectAltName: x.subjectAltName ?? "", notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo) };
}

/** Starts the SDS listener. Resolves once it is bound; MtlsError-free: listen errors reject with the Node error. */
export async function startSdsServer(p: SdsServerParams): Promise<SdsServer> {
  const log = p.logger.child({ component: "sds" });
  const now = p.now ?? (() => new Date());
  const protos = loadSdsProtos();
  const credentials = new SwappableServerCredentials({ key: p.tls.key, cert: p.tls.cert, ca: p.tls.ca });
  // Channelz (grpc-js' introspection, which nothing here reads) would keep a tracker and a trace per connection.
  const server = new grpc.Server({ "grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": 1, "grpc.enable_channelz": 0 });

  let identities = new Map<string, SdsIdentity>();
  const working = new Map<string, WorkingCert>();
  const issuing = new Map<string, Promise<WorkingCert>>();
  const open = new Map<number, OpenStream>();
  let nextId = 1;

  const trustDomain = (): string => p.authority()?.trustDomain ?? "";
  const ca = (): Authority => {
    const a = p.authority();
    if (!a) throw new Error("the CA is not loaded yet");
    return a;
  };

  const workingCert = async (spiffeId: string): Promise<WorkingCert> => {
    const a = ca();
    const have = working.get(spiffeId);
    if (workingCertDue(have, a, now()) === null && have) return have;
    const running = issuing.get(spiffeId);
    if (running) return running;
    const id = identities.get(spiffeId);
    if (!id) throw new Error(`${spiffeId} is not opted in to SDS`);
    const job = issueWorkingCert(a, id, { ttlSeconds: p.workingTtlSeconds, renewBefore: p.renewBefore, jitter: p.jitter })
      .then((c) => {
        working.set(spiffeId, c);
        p.metrics.workingIssued(id.identity, c.notAfter);
        writeAudit(p.logger, auditRecord({ event: "sds-issue", trigger: "sds", identity: id.identity, service: id.service, serial: c.serial, fingerprint: c.fingerprint, result: "ok" }));
        return c;
      })
      .finally(() => issuing.delete(spiffeId));
    issuing.set(spiffeId, job);
    return job;
  };

  /** The resources a stream (or fetch) asked for, and their version. */
  const resourcesFor = async (refs: readonly SdsResourceRef[]): Promise<{ resources: SecretResource[]; version: string }> => {
    const resources: SecretResource[] = [];
    const versions: { name: string; version: string }[] = [];
    for (const r of refs) {
      if (r.kind === "trust-bundle") {
        const pem = bundlePem(ca());
        resources.push({ name: r.name, validation_context: { trusted_ca: { inline_bytes: Buffer.from(pem) } } });
        versions.push({ name: r.name, version: bundleVersion(pem) });
      } else {
        const c = await workingCert(r.name);
        resources.push({ name: r.name, tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(c.chainPem) }, private_key: { inline_bytes: Buffer.from(c.keyPem) } } });
        versions.push({ name: r.name, version: c.serial });
      }
    }
    return { resources, version: versionOf(versions) };
  };

  /** The version resourcesFor would give `refs` now, without issuing or copying anything; null while a certificate is missing. */
  const currentVersion = (refs: readonly SdsResourceRef[], bundle: string): string | null => {
    const versions: { name: string; version: string }[] = [];
    for (const r of refs) {
      const version = r.kind === "trust-bundle" ? bundle : working.get(r.name)?.serial;
      if (version === undefined) return null;
      versions.push({ name: r.name, version });
    }
    return versionOf(versions);
  };

  const close = (s: OpenStream, code: grpc.status, details: string): void => {
    if (s.closed) return;
    forget(s);
    s.call.emit("error", { code, details });
  };
  const forget = (s: OpenStream): void => {
    if (s.closed) return;
    s.closed = true;
    open.delete(s.id);
    if (s.identity) p.metrics.streamsOpen(s.identity, -1);
  };

  const send = async (s: OpenStream): Promise<void> => {
    const { resources, version } = await resourcesFor(s.refs);
    if (s.closed) return;
    const nonce = randomBytes(8).toString("hex");
    s.state = afterSend(s.state, { nonce, version, names: s.refs.map((r) => r.name).sort() });
    s.sentAt = Date.now();
    s.call.write({ version_info: version, resources, type_url: SECRET_TYPE_URL, nonce });
    p.metrics.pushed();
  };

  const decide = (peer: SdsPeer | null, names: readonly string[]): SdsAccess =>
    decideSdsAccess({ peer, names, trustDomain: trustDomain(), optedIn: (id) => identities.has(id), now: now() });
  /** The access decision; a caller not (yet) opted in gets one re-read of the opted-in identities first. */
  const access = async (peer: SdsPeer | null, names: readonly string[]): Promise<SdsAccess> => {
    const first = decide(peer, names);
    if (first.ok || first.code !== "permission-denied" || !p.reloadIdentities) return first;
    const caller = sdsCaller(peer, trustDomain(), now());
    if (!caller.ok || identities.has(caller.spiffeId)) return first;
    await p.reloadIdentities().catch((e: unknown) => log.warn({ err: (e as Error).message }, "SDS: could not re-read the opted-in identities"));
    return decide(peer, names);
  };

  const handle = async (s: OpenStream, req: DiscoveryRequest): Promise<void> => {
    const m = readRequest(s.state, req);
    s.state = afterRequest(s.state, m);
    if (m.kind === "refuse") return close(s, grpc.status.INVALID_ARGUMENT, m.message);
    if (m.kind === "stale") return;
    if (m.kind === "ack" || m.kind === "nack" || (m.kind === "subscribe" && m.ack !== null)) {
      p.metrics.response(m.kind === "nack" ? "nack" : "ack");
      if (m.kind !== "nack") p.metrics.pushAcked((Date.now() - s.sentAt) / 1000);
    }
    if (m.kind === "nack") log.warn({ spiffeId: s.spiffeId, version: m.version, error: m.message }, "SDS response rejected by the client (NACK); it keeps its previous secrets");
    const names = m.kind === "subscribe" ? m.names : m.kind === "nack" ? m.names : null;
    if (names === null) return;
    const decision = await access(s.peer, names);
    if (s.closed) return;
    if (!decision.ok) {
      p.metrics.refused(decision.code);
      log.warn({ spiffeId: s.spiffeId, names: names.slice(0, 8), reason: decision.message }, "SDS request refused");
      return close(s, GRPC_CODE[decision.code], decision.message);
    }
    if (s.identity === null) {
      s.spiffeId = decision.spiffeId;
      s.identity = identities.get(decision.spiffeId)?.identity ?? decision.spiffeId;
      p.metrics.streamsOpen(s.identity, 1);
    }
    s.refs = decision.resources;
    await send(s);
  };

  const streamSecrets = (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): void => {
    const s: OpenStream = { id: nextId++, call, peer: peerOf(call), spiffeId: null, identity: null, state: newStreamState(), refs: [], sentAt: 0, queue: Promise.resolve(), closed: false };
    open.set(s.id, s);
    call.on("data", (req: DiscoveryRequest) => {
      s.queue = s.queue.then(() => (s.closed ? undefined : handle(s, req))).catch((e: unknown) => {
        log.error({ spiffeId: s.spiffeId, err: (e as Error).message }, "SDS request failed");
        close(s, grpc.status.UNAVAILABLE, "the CA could not answer; retry");
      });
    });
    call.on("end", () => {
      forget(s);
      call.end();
    });
    call.on("cancelled", () => forget(s));
    call.on("error", () => forget(s));
  };

  const fetchSecrets = (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, done: grpc.sendUnaryData<DiscoveryResponse>): void => {
    const req = call.request;
    if (req.type_url !== "" && req.type_url !== SECRET_TYPE_URL) return done({ code: grpc.status.INVALID_ARGUMENT, details: `type_url must be ${SECRET_TYPE_URL}` });
    access(peerOf(call), [...new Set(req.resource_names)].sort())
      .then(async (decision) => {
        if (!decision.ok) {
          p.metrics.refused(decision.code);
          return done({ code: GRPC_CODE[decision.code], details: decision.message });
        }
        const { resources, version } = await resourcesFor(decision.resources);
        done(null, { version_info: version, resources, type_url: SECRET_TYPE_URL, nonce: randomBytes(8).toString("hex") });
      })
      .catch((e: unknown) => done({ code: grpc.status.UNAVAILABLE, details: `the CA could not answer: ${(e as Error).message}` }));
  };

  server.addService(protos.service, { StreamSecrets: streamSecrets, FetchSecrets: fetchSecrets } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(p.listen, credentials, (e, port) => (e ? reject(e) : resolve(port))));

  /** Pushes new versions to every stream that has not had them (renewed certificates, a new bundle). */
  const pushDue = async (): Promise<void> => {
    const a = p.authority();
    if (!a) return;
    const t = now();
    const wanted = new Set<string>();
    for (const s of open.values()) for (const r of s.refs) if (r.kind === "working-certificate") wanted.add(r.name);
    for (const id of wanted) {
      const reason = workingCertDue(working.get(id), a, t);
      if (reason) await workingCert(id).catch((e: unknown) => log.error({ spiffeId: id, reason, err: (e as Error).message }, "working certificate not renewed; retrying"));
    }
    // Certificates nobody streams any more are dropped once expired.
    for (const [id, c] of working) if (!wanted.has(id) && c.notAfter <= t) working.delete(id);
    // Each stream's current version from the serials and the bundle's hash: the resources (PEM copies) are built
    // only for a stream that gets a push, not for every stream on every tick.
    const bundle = bundleVersion(bundlePem(a));
    for (const s of [...open.values()]) {
      if (s.refs.length === 0 || s.closed) continue;
      const version = currentVersion(s.refs, bundle);
      if (version !== null && needsPush(s.state, version)) {
        s.queue = s.queue.then(() => (s.closed ? undefined : send(s))).catch((e: unknown) => log.error({ spiffeId: s.spiffeId, err: (e as Error).message }, "SDS push failed"));
      }
    }
  };
  let ticking = false;
  const tick = async (): Promise<void> => {
    if (ticking) return;
    ticking = true;
    try {
      await pushDue();
    } finally {
      ticking = false;
    }
  };
  const timer = setInterval(() => void tick(), p.tickMs ?? 1000);
  timer.unref();
  log.info({ listen: p.listen, port }, "SDS serving (mTLS)");

  return {
    port,
    credentials,
    async refresh(list) {
      const before = identities;
      identities = new Map(list.map((i) => [i.spiffeId, i]));
      for (const s of [...open.values()]) {
        if (s.spiffeId !== null && !identities.has(s.spiffeId)) {
          log.info({ spiffeId: s.spiffeId }, "SDS stream closed: the identity is no longer opted in");
          close(s, grpc.status.PERMISSION_DENIED, `${s.spiffeId} is no longer opted in to SDS`);
        }
      }
      for (const id of [...working.keys()]) {
        if (!identities.has(id)) {
          p.metrics.forgetWorking(before.get(id)?.identity ?? id);
          working.delete(id);
        }
      }
      await tick();
    },
    identity: (spiffeId) => identities.get(spiffeId),
    streams: () => [...open.values()].map((s) => ({ spiffeId: s.spiffeId, names: s.state.names, acked: s.state.acked })),
    async stop() {
      clearInterval(timer);
      for (const s of [...open.values()]) close(s, grpc.status.UNAVAILABLE, "the CA is stopping; reconnect");
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

export { bundleResourceName };

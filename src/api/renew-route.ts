/**
 * `POST /v1/renew`: a workload renews its own certificate over mTLS (see src/sds/renew.ts for who may). The body is a
 * PEM CSR (`content-type: application/x-pem-file`); the answer is the new certificate and its intermediate, PEM.
 * Its own file and its own fastify scope: the PEM body parser exists only for this route.
 */
import type { PeerCertificate, TLSSocket } from "node:tls";
import { X509Certificate } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { MtlsError } from "../errors.js";
import { describeTlsRefusal, type RenewPeer, type Renewed, type RenewRequest } from "../sds/renew.js";
import { errorResponses, textResponse } from "./schemas.js";

export const PEM_MEDIA_TYPE = "application/x-pem-file";

export interface RenewRouteParams {
  /** Renews; null when serve does not renew (no SDS, or the API is plain HTTP): the route says how to turn it on. */
  renew: ((r: RenewRequest) => Promise<Renewed>) | null;
}

/** What the request's TLS socket proves: nothing on plain HTTP or without a certificate. */
export function renewPeerOf(socket: unknown): RenewPeer | null {
  const s = socket as Partial<TLSSocket> | null;
  if (!s || typeof s.getPeerCertificate !== "function") return null;
  const cert = s.getPeerCertificate(false) as Partial<PeerCertificate> | null;
  if (!cert || !cert.raw || cert.raw.length === 0) return null;
  const x = new X509Certificate(cert.raw);
  const error = s.authorizationError;
  return {
    authorized: s.authorized === true,
    ...(error ? { authorizationError: typeof error === "string" ? error : ((error as NodeJS.ErrnoException).code ?? error.message) } : {}),
    subjectAltName: x.subjectAltName ?? "",
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
  };
}

export async function registerRenewRoute(app: FastifyInstance, p: RenewRouteParams): Promise<void> {
  await app.register(async (scope) => {
    scope.addContentTypeParser(PEM_MEDIA_TYPE, { parseAs: "string" }, (_request, body, done) => done(null, body));
    scope.post<{ Body: string }>("/v1/renew", {
      // Before the body is read: a caller without a verified certificate of this CA makes the server parse nothing.
      onRequest: async (request) => {
        if (!p.renew) return;
        const peer = renewPeerOf(request.raw.socket);
        if (!peer) throw new MtlsError("unauthorized", "renewing needs the current certificate as the TLS client certificate (curl --cert/--key) over HTTPS");
        if (!peer.authorized) throw new MtlsError("unauthorized", describeTlsRefusal(peer.authorizationError));
      },
      schema: {
        tags: ["trust"],
        summary: "Renew the presented client certificate (mTLS) for a CSR's key: same identity, names and lifetime as SDS",
        description: `Body: a PEM CSR (content-type ${PEM_MEDIA_TYPE}). Authenticated by the TLS client certificate being renewed.`,
        response: { 200: textResponse(PEM_MEDIA_TYPE, "the new certificate and its intermediate, PEM"), ...errorResponses(400, 401, 403, 404, 413, 415, 500, 503) },
      },
    }, async (request, reply) => {
      if (!p.renew) throw new MtlsError("not-found", "POST /v1/renew is served when SDS is on (serve --sds) and the API is HTTPS (api.tls)");
      const csrPem = typeof request.body === "string" ? request.body : "";
      const renewed = await p.renew({ peer: renewPeerOf(request.raw.socket), csrPem });
      return reply.type(PEM_MEDIA_TYPE).header("cache-control", "no-store").send(renewed.chainPem);
    });
  });
}

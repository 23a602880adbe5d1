/** Routes that change things or hand out certificates: rotate and sign. Admin only (see admin-auth.ts). */
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from "fastify";
import { MtlsError } from "../errors.js";
import type { ControlPlane, RotateRequest } from "./control-plane.js";
import { parseTtl } from "./parse-ttl.js";
import {
  errorResponses, identityParamsSchema, rotateBodySchema, rotateReplySchema, signBodySchema, signReplySchema,
} from "./schemas.js";

export interface AdminRoutesRegisterParams {
  controlPlane: ControlPlane;
  /** Returns the actor (`token` or the client identity) of an admin request, or null. */
  authenticate: (request: FastifyRequest) => string | null;
}

interface SignBody {
  identity: string;
  csr: string;
  ttl?: string | number;
  dns?: string[];
}

/** The actor proven by requireAdmin, kept per request for the audit trail. */
const actors = new WeakMap<FastifyRequest, string>();

export function actorOf(request: FastifyRequest): string {
  const actor = actors.get(request);
  if (actor === undefined) throw new MtlsError("internal", "admin route reached without authentication");
  return actor;
}

/** Whether an admin route authenticated this request (its caller may read a server-side failure's message). */
export function isAdminRequest(request: FastifyRequest): boolean {
  return actors.has(request);
}

export function registerAdminRoutes(app: FastifyInstance, p: AdminRoutesRegisterParams): void {
  const cp = p.controlPlane;
  // onRequest runs before the body is read: unauthenticated callers cannot make the server parse anything.
  const requireAdmin: onRequestHookHandler = async (request) => {
    const actor = p.authenticate(request);
    if (actor === null) {
      throw new MtlsError("unauthorized", "admin credentials required: a bearer token or an admin client certificate");
    }
    actors.set(request, actor);
  };
  // A POST without a body means "no options".
  const emptyBodyIsNoOptions = async (request: FastifyRequest) => {
    if (request.body === undefined || request.body === null) request.body = {};
  };
  const security = [{ bearerAuth: [] }];

  app.post<{ Params: { identity: string }; Body: RotateRequest }>("/v1/services/:identity/rotate", {
    onRequest: requireAdmin,
    preValidation: emptyBodyIsNoOptions,
    schema: {
      tags: ["admin"],
      summary: "Rotate one identity's certificate (admin)",
      security,
      params: identityParamsSchema,
      body: rotateBodySchema,
      response: { 200: rotateReplySchema, ...errorResponses(400, 401, 404, 409, 413, 415, 500, 502, 503, 504) },
    },
  }, async (request) => {
    const outcomes = await cp.rotate(request.params.identity, rotateOptions(request.body), actorOf(request));
    return { outcomes };
  });

  app.post<{ Body: RotateRequest }>("/v1/rotate", {
    onRequest: requireAdmin,
    preValidation: emptyBodyIsNoOptions,
    schema: {
      tags: ["admin"],
      summary: "Reconcile every opted-in service now (admin)",
      security,
      body: rotateBodySchema,
      response: { 200: rotateReplySchema, ...errorResponses(400, 401, 409, 413, 415, 500, 502, 503, 504) },
    },
  }, async (request) => {
    const outcomes = await cp.rotate(null, rotateOptions(request.body), actorOf(request));
    return { outcomes };
  });

  app.post<{ Body: SignBody }>("/v1/sign", {
    onRequest: requireAdmin,
    schema: {
      tags: ["admin"],
      summary: "Sign a PEM CSR for an identity, within policy (admin)",
      security,
      body: signBodySchema,
      response: { 200: signReplySchema, ...errorResponses(400, 401, 404, 413, 415, 500, 502, 503) },
    },
  }, async (request) => {
    const b = request.body;
    const ttlSeconds = b.ttl === undefined ? undefined : parseTtl(b.ttl, "body.ttl");
    const signed = await cp.signCsr({
      identity: b.identity,
      csrPem: b.csr,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      ...(b.dns === undefined ? {} : { dnsNames: b.dns }),
    }, actorOf(request));
    return { identity: b.identity, ...signed };
  });
}

function rotateOptions(body: RotateRequest | undefined): RotateRequest {
  return { force: body?.force === true, dryRun: body?.dryRun === true };
}

/**
 * The HTTP API of `swarm-mtls serve`: an app factory (no listen) so tests build it and `inject`, and the serve
 * command listens. Everything the API does goes through the injected ControlPlane.
 */
import type { ServerOptions as HttpsServerOptions } from "node:https";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance } from "fastify";
import { REDACTED_PATHS, type Logger } from "../log.js";
import { createAdminAuth } from "./admin-auth.js";
import { isAdminRequest, registerAdminRoutes } from "./admin-routes.js";
import type { ControlPlane } from "./control-plane.js";
import { formatSchemaErrors, handleApiError, handleNotFound } from "./error-reply.js";
import type { Metrics } from "./metrics.js";
import { registerPublicRoutes } from "./public-routes.js";
import { registerRenewRoute, type RenewRouteParams } from "./renew-route.js";
import { registerRateLimit, type RateLimitSettings } from "./rate-limit.js";
import { errorReplySchema } from "./schemas.js";
import { VERSION } from "../version.js";

export const DEFAULT_BODY_LIMIT = 64 * 1024;

export interface ApiAppParams {
  /** What the API reads and asks for; required. */
  controlPlane: ControlPlane;
  /** Registry rendered by GET /metrics; required. */
  metrics: Metrics;
  /** Root pino logger; the app logs through a child `{component: "api"}` with authorization redacted. */
  logger: Logger;
  /** Admin bearer token (already read from its file by the caller; surrounding whitespace is ignored); null disables token auth. */
  adminToken: string | null;
  /** SPIFFE IDs / CNs whose verified client certificate grants admin (needs `https` with requestCert); default none. */
  adminIdentities?: string[];
  /** Largest request body in bytes; default 64 KiB (413 above). */
  bodyLimit?: number;
  /** HTTPS server options ({key, cert, ca, requestCert: true, rejectUnauthorized: false}); default null = plain HTTP. */
  https?: HttpsServerOptions | null;
  /** POST /v1/renew (src/sds/renew.ts); default null: the route answers how to turn it on. */
  renew?: RenewRouteParams["renew"];
  /** Requests per client address and window (429 with Retry-After above it); default none (serve passes api.rateLimit). */
  rateLimit?: RateLimitSettings | null;
  /** Version shown in the OpenAPI document; default the package version. */
  version?: string;
}

export async function buildApiApp(p: ApiAppParams): Promise<FastifyInstance> {
  const logger = p.logger.child({ component: "api" }, { redact: { paths: REDACTED_PATHS, censor: "[redacted]" } });
  const admins = apiAdmins(p, logger);
  const app = createFastify(p, logger);
  app.addSchema(errorReplySchema);
  await registerOpenApi(app, p.version ?? VERSION);
  registerBodyParsers(app);

  // Only an authenticated admin reads a server-side failure's own message; anyone else gets its kind.
  app.setErrorHandler((err, request, reply) => handleApiError(err, request, reply, isAdminRequest));
  app.setNotFoundHandler(handleNotFound);

  const auth = createAdminAuth(admins);
  // Before every route's own hooks (the admin check too): wrong credentials count against the address like any call.
  if (p.rateLimit) {
    await registerRateLimit(app, { limit: p.rateLimit, isAdmin: (request) => auth({ headers: request.headers, socket: request.raw.socket }) !== null });
  }
  registerPublicRoutes(app, { controlPlane: p.controlPlane, metrics: p.metrics });
  registerAdminRoutes(app, {
    controlPlane: p.controlPlane,
    authenticate: (request) => auth({ headers: request.headers, socket: request.raw.socket }),
  });
  await registerRenewRoute(app, { renew: p.renew ?? null });
  registerDocsRoute(app);
  return app;
}

/** Who may call the admin routes (token, client-certificate identities); warns when nobody can. */
function apiAdmins(p: ApiAppParams, logger: Logger): { adminToken: string | null; adminIdentities: string[] } {
  const adminToken = p.adminToken === null ? null : p.adminToken.trim();
  if (adminToken === "") throw new Error("the admin token is empty; give a token or disable token auth");
  const adminIdentities = p.adminIdentities ?? [];
  if (adminToken === null && adminIdentities.length === 0) {
    logger.warn("no admin token and no admin identities: the admin routes (rotate, sign) will refuse every request");
  }
  if (adminIdentities.length > 0 && !p.https) {
    logger.warn("admin identities are set but the API is not served over HTTPS: client certificates cannot be checked");
  }
  return { adminToken, adminIdentities };
}

function createFastify(p: ApiAppParams, logger: Logger): FastifyInstance {
  return Fastify({
    loggerInstance: logger,
    bodyLimit: p.bodyLimit ?? DEFAULT_BODY_LIMIT,
    ...(p.https ? { https: p.https } : {}),
    // Strict input: no type coercion, unknown fields are errors (not silently dropped), first error only.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
    schemaErrorFormatter: (errors, dataVar) => formatSchemaErrors(errors, dataVar),
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
}

async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    // Shared schemas keep their $id as their OpenAPI name (ErrorReply) instead of def-N.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === "string" ? json.$id : `def-${i}`) },
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "swarm-mtls",
        version,
        description:
          "Certificate authority and rotation for Docker Swarm. Admin routes take `Authorization: Bearer <token>` " +
          "or, over HTTPS, a client certificate of an admin identity issued by this CA.",
      },
      components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer" } } },
    },
  });
}

function registerBodyParsers(app: FastifyInstance): void {
  // An empty JSON body (`curl -X POST -H 'content-type: application/json'`) means "no options", like no body at all.
  const defaultJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") {
      done(null, undefined);
      return;
    }
    defaultJson(request, text, done);
  });

  // Every route with a body takes JSON: a text/plain body gets 415 naming the media type (fastify would otherwise
  // parse it as a string and the schema would answer "body must be object").
  app.removeContentTypeParser("text/plain");
}

function registerDocsRoute(app: FastifyInstance): void {
  app.get("/docs/json", {
    logLevel: "warn",
    schema: {
      tags: ["meta"],
      summary: "This OpenAPI document",
      response: { 200: { type: "object", additionalProperties: true } },
    },
  }, async () => app.swagger());
}

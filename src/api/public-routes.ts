/** Routes anyone reaching the listener may call: health, metrics, trust bundle, CA, status, Envoy bootstrap. */
import type { FastifyInstance } from "fastify";
import type { ControlPlane } from "./control-plane.js";
import type { Metrics } from "./metrics.js";
import {
  caCertificateSchema,
  caRotationSchema,
  errorResponses, identityParamsSchema, serviceStatusSchema, textResponse,
} from "./schemas.js";

export interface PublicRoutesRegisterParams {
  controlPlane: ControlPlane;
  metrics: Metrics;
}

type Readiness = Awaited<ReturnType<ControlPlane["ready"]>>;

/**
 * What anyone may read of the readiness: ready, or the kind of failure — never the failure's own text, which can
 * carry the engine's reply or the key-encryption key's path (that goes to the log). Pure.
 */
export function publicReadiness(state: Readiness): { ready: true } | { ready: false; reason: string } {
  if (state.ready) return { ready: true };
  switch (state.code) {
    case "no-ca":
      return { ready: false, reason: "no CA in the store yet; see the swarm-mtls log" };
    case "kek":
      return { ready: false, reason: "the CA state cannot be opened with the key-encryption key; see the swarm-mtls log" };
    case "docker":
    case "timeout":
      return { ready: false, reason: "the Docker engine cannot be reached or refused a call; see the swarm-mtls log" };
    default:
      return { ready: false, reason: "not ready; see the swarm-mtls log" };
  }
}

/** Probes and scrapes are frequent; their request lines are logged only at warn and above. */
const QUIET = "warn" as const;

export function registerPublicRoutes(app: FastifyInstance, p: PublicRoutesRegisterParams): void {
  registerHealthRoutes(app, p);
  registerTrustRoutes(app, p.controlPlane);
  registerServiceRoutes(app, p.controlPlane);
}

/** Liveness, readiness and the Prometheus scrape. */
function registerHealthRoutes(app: FastifyInstance, p: PublicRoutesRegisterParams): void {
  const cp = p.controlPlane;
  app.get("/healthz", {
    logLevel: QUIET,
    schema: {
      tags: ["health"],
      summary: "Liveness: the process serves HTTP",
      response: { 200: { type: "object", required: ["status"], properties: { status: { type: "string", enum: ["ok"] } } } },
    },
  }, async () => ({ status: "ok" as const }));

  const readySchema = {
    type: "object",
    required: ["ready"],
    properties: { ready: { type: "boolean" }, reason: { type: "string" } },
  } as const;
  // The detail of a failed readiness check goes to the log once per change, not per probe.
  let loggedReason: string | null = null;
  app.get("/readyz", {
    logLevel: QUIET,
    schema: {
      tags: ["health"],
      summary: "Readiness: store reachable and CA loaded",
      response: { 200: readySchema, 503: readySchema },
    },
  }, async (request, reply) => {
    let state: Readiness;
    try {
      state = await cp.ready();
    } catch (err) {
      request.log.warn({ err }, "readiness check failed");
      state = { ready: false, reason: "readiness check failed" };
    }
    const detail = state.ready ? null : (state.reason ?? "not ready");
    if (detail !== loggedReason) {
      if (detail === null) request.log.info("ready again");
      else request.log.warn({ reason: detail, code: state.code }, "not ready");
      loggedReason = detail;
    }
    return reply.code(state.ready ? 200 : 503).send(publicReadiness(state));
  });

  app.get("/metrics", {
    logLevel: QUIET,
    schema: {
      tags: ["health"],
      summary: "Prometheus metrics",
      response: { 200: textResponse("text/plain", "Prometheus text exposition format"), ...errorResponses(500) },
    },
  }, async (_request, reply) => {
    const text = await p.metrics.registry.metrics();
    return reply.type(p.metrics.registry.contentType).send(text);
  });
}

/** The trust bundle and the CA certificates. */
function registerTrustRoutes(app: FastifyInstance, cp: ControlPlane): void {
  app.get("/v1/bundle.pem", {
    schema: {
      tags: ["trust"],
      summary: "Public trust bundle (CA certificates), PEM",
      response: { 200: textResponse("application/x-pem-file", "PEM certificates"), ...errorResponses(500, 502, 503) },
    },
  }, async (_request, reply) => {
    const pem = await cp.bundlePem();
    return reply.type("application/x-pem-file").header("cache-control", "no-cache").send(pem);
  });

  app.get("/v1/ca", {
    schema: {
      tags: ["trust"],
      summary: "CA certificates with their roles and expiry",
      response: {
        200: {
          type: "object",
          required: ["certificates"],
          properties: { certificates: { type: "array", items: caCertificateSchema }, rotation: caRotationSchema },
        },
        ...errorResponses(500, 502, 503),
      },
    },
  }, async () => {
    const certificates = await cp.caInfo();
    const rotation = cp.caRotation ? await cp.caRotation() : null;
    return rotation ? { certificates, rotation } : { certificates };
  });
}

/** The services' certificate status and their Envoy bootstraps. */
function registerServiceRoutes(app: FastifyInstance, cp: ControlPlane): void {
  app.get("/v1/services", {
    schema: {
      tags: ["services"],
      summary: "Certificate status of every opted-in service",
      response: {
        200: { type: "object", required: ["services"], properties: { services: { type: "array", items: serviceStatusSchema } } },
        ...errorResponses(500, 502, 503),
      },
    },
  }, async () => ({ services: await cp.listServices() }));

  app.get<{ Params: { identity: string } }>("/v1/services/:identity", {
    schema: {
      tags: ["services"],
      summary: "Certificate status of one identity",
      params: identityParamsSchema,
      response: { 200: serviceStatusSchema, ...errorResponses(400, 404, 500, 502, 503) },
    },
  }, async (request) => cp.getService(request.params.identity));

  app.get<{ Params: { identity: string } }>("/v1/envoy/:identity/bootstrap.yaml", {
    schema: {
      tags: ["envoy"],
      summary: "Envoy bootstrap configuration of an identity's sidecar",
      params: identityParamsSchema,
      response: { 200: textResponse("text/yaml", "Envoy bootstrap YAML"), ...errorResponses(400, 404, 500, 502, 503) },
    },
  }, async (request, reply) => {
    const yaml = await cp.envoyBootstrap(request.params.identity);
    return reply.type("text/yaml; charset=utf-8").header("cache-control", "no-cache").send(yaml);
  });
}

/**
 * Per-client request limits on the API (@fastify/rate-limit): every request, public or admin, counts against its
 * client address (IPv6 by /64) before anything else runs, so a flood of anonymous requests — or of admin requests
 * with wrong credentials — is answered 429 with Retry-After instead of reaching the CA or the Docker engine.
 * Requests that carry valid admin credentials are not counted: an operator is not locked out by a noisy neighbour
 * behind the same address. Only the socket's address counts (no X-Forwarded-For: nothing here trusts a proxy).
 */
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { MtlsError } from "../errors.js";

export interface RateLimitSettings {
  /** Requests one client address may make per window; 0 turns the limit off. */
  max: number;
  /** Window length, ms. */
  windowMs: number;
}

/** What a client is told when over its limit; Retry-After (whole seconds) goes with it. Pure. */
export function rateLimitedError(p: { max: number; windowMs: number; retryAfterSeconds: number }): MtlsError {
  const per = p.windowMs % 60_000 === 0 ? `${p.windowMs / 60_000} min` : `${Math.round(p.windowMs / 1000)} s`;
  return new MtlsError("rate-limited", `too many requests from this address (at most ${p.max} per ${per}); retry in ${p.retryAfterSeconds} s`);
}

/**
 * Puts the limit in front of every route of `app` and its 404s: one app-level onRequest hook, which runs before the
 * routes' own hooks (the admin check included). Nothing when `max` is 0.
 */
export async function registerRateLimit(app: FastifyInstance, p: { limit: RateLimitSettings; isAdmin: (request: FastifyRequest) => boolean }): Promise<void> {
  if (p.limit.max <= 0) return;
  const { max, windowMs } = p.limit;
  await app.register(rateLimit, {
    global: false,
    max,
    timeWindow: windowMs,
    allowList: (request) => p.isAdmin(request),
    errorResponseBuilder: (_request, context) => rateLimitedError({ max, windowMs, retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) }),
  });
  app.addHook("onRequest", app.rateLimit());
}

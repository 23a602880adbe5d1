import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { buildApiApp } from "../api/app.js";
import { createMetrics } from "../api/metrics.js";
import { bundlePem, createAuthority, issueLeaf, sealAuthority, validateDnsName, type Authority } from "../ca/index.js";
import { badInput } from "../errors.js";
import { createServingPlane } from "../rotation/control-plane.js";
import { debounceKeys, startReconcileLoop } from "../rotation/scheduler.js";
import { ensureKekFile, readKekFile } from "../store/kek-file.js";
import type { CliContext } from "./context.js";

export interface ServeOptions {
  listen?: string;
  adminTokenFile?: string;
  tls?: boolean;
  once?: boolean;
}

/** The API's own certificate, from its own CA (identity swarm-mtls-api), when TLS is on. */
async function apiTls(a: Authority, extraNames: string[]): Promise<{ key: string; cert: string; ca: string; requestCert: true; rejectUnauthorized: false }> {
  const names = new Set(["localhost", ...extraNames]);
  try {
    names.add(validateDnsName(hostname().toLowerCase()));
  } catch {
    /* a host name that is not a DNS name is simply not added */
  }
  const leaf = await issueLeaf(a, { identity: "swarm-mtls-api", dnsNames: [...names], ttlSeconds: Math.min(a.maxLeafTtlSeconds, 7 * 86400) });
  return { key: leaf.keyPem as string, cert: leaf.chainPem, ca: bundlePem(a), requestCert: true, rejectUnauthorized: false };
}

/**
 * `serve`: keeps every opted-in service fresh (start, schedule, Docker events) and serves the HTTP API.
 * Without a reachable swarm it runs the embedded mode on the file store (identities from config), creating the CA
 * on first start, so that `npm start` works on a fresh machine.
 */
export async function runServe(ctx: CliContext, o: ServeOptions): Promise<void> {
  const log = ctx.logger.child({ component: "serve" });
  const store = await ctx.store();
  const swarmMode = store.location === "swarm";
  const swarm = swarmMode ? await ctx.swarm() : undefined;
  const kekFile = ctx.kekFile(store);

  if (!swarmMode && (await store.readCaState()) === null) {
    const created = await ensureKekFile(kekFile);
    const { authority } = await createAuthority({
      trustDomain: ctx.config.ca.trustDomain,
      keyAlgorithm: ctx.config.ca.keyAlgorithm,
      rootTtlSeconds: ctx.config.seconds.rootTtl,
      intermediateTtlSeconds: ctx.config.seconds.intermediateTtl,
      maxLeafTtlSeconds: ctx.config.seconds.maxLeafTtl,
    });
    await store.writeCaState(sealAuthority(authority, await readKekFile(kekFile)), { replace: false });
    log.info({ store: store.location, trustDomain: authority.trustDomain, kekCreated: created }, "no CA found: created one (embedded mode)");
  }

  const listen = o.listen ?? ctx.config.api.listen;
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw badInput(`--listen: '${listen}' must be HOST:PORT`);
  const tokenFile = o.adminTokenFile ?? ctx.config.api.adminTokenFile;
  let adminToken: string | null = null;
  if (tokenFile) {
    adminToken = (await readFile(resolve(tokenFile), "utf8").catch((e: NodeJS.ErrnoException) => {
      throw badInput(`admin token file ${tokenFile}: cannot be read (${e.code})`);
    })).trim();
    if (adminToken.length < 16) throw badInput(`admin token file ${tokenFile}: the token must be at least 16 characters`);
  }

  const metrics = createMetrics();
  const plane = createServingPlane({
    store,
    kekFile,
    config: ctx.config,
    logger: ctx.logger,
    metrics,
    ...(swarm ? { swarm } : {}),
    ...(store.location.startsWith("file:") ? { dataDir: store.location.slice("file:".length) } : {}),
  });
  const ready = await plane.ready();
  if (!ready.ready) log.warn({ reason: ready.reason }, "not ready yet");

  const tlsOn = o.tls ?? (ctx.config.api.tls === "auto" ? swarmMode : ctx.config.api.tls === "on");
  const authority = plane.authority();
  const https = tlsOn && authority ? await apiTls(authority, [m[1] as string].filter((h) => /^[a-z0-9.-]+$/i.test(h) && !/^[\d.]+$/.test(h))) : null;
  const app: FastifyInstance = await buildApiApp({
    controlPlane: plane,
    metrics,
    logger: ctx.logger,
    adminToken,
    adminIdentities: ctx.config.api.adminIdentities,
    bodyLimit: ctx.config.api.bodyLimit,
    https,
  });
  await app.listen({ host: m[1] as string, port: Number(m[2]) });
  log.info({ listen, tls: tlsOn, store: store.location, mode: swarmMode ? "swarm" : "embedded" }, "serving");

  const loop = startReconcileLoop({ cron: ctx.config.schedule.cron, maintenanceWindow: ctx.config.schedule.maintenanceWindow, logger: ctx.logger, reconcile: (r) => plane.reconcile(r) });
  loop.request({ trigger: "start" });

  const events = new AbortController();
  if (swarm) {
    const debounced = debounceKeys(2000, (services) => loop.request({ trigger: "event", services }));
    void swarm
      .events(
        { types: ["service"], signal: events.signal, onReconnect: (e, ms) => log.warn({ err: (e as Error)?.message, retryInMs: ms }, "Docker event stream dropped; reconnecting") },
        (e) => {
          if (e.action === "create" || e.action === "update") debounced.push(e.name ?? e.id);
        },
      )
      .catch((e: unknown) => log.error({ err: (e as Error).message }, "Docker event stream stopped"));
    events.signal.addEventListener("abort", () => debounced.cancel());
  }

  let stopping = false;
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: finishing the running reconcile, then releasing the lease");
    events.abort();
    await loop.stop();
    await app.close();
    log.info("stopped");
  }
  if (o.once) {
    await loop.idle();
    await shutdown("once");
    return;
  }

  await new Promise<void>((done) => {
    const stop = (sig: string) => void shutdown(sig).then(done);
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { adminSpiffeIds } from "../api/admin-auth.js";
import { buildApiApp } from "../api/app.js";
import { createMetrics, type Metrics } from "../api/metrics.js";
import { validateDnsName, type Authority } from "../ca/index.js";
import { parseDuration } from "../config/duration.js";
import { badInput, MtlsError } from "../errors.js";
import { createServingPlane, type ServingPlane } from "../rotation/serving-plane.js";
import { debounceKeys, leaseRetryDelayMs, startReconcileLoop } from "../rotation/scheduler.js";
import type { Logger } from "../log.js";
import type { CaStore } from "../store/ca-store.js";
import { caStateConfigPattern } from "../store/swarm-store.js";
import type { Swarm } from "../swarm/swarm.js";
import type { CliContext } from "./context.js";
import { ensureCa } from "./first-run.js";
import { apiCertNames, issueApiCert, keepApiCertFresh, type ApiCert, type ApiCertNames } from "./serve-api-cert.js";
import { createRenewer, type Renewer } from "../sds/renew.js";
import { startServeSds, type ServeSds } from "./serve-sds.js";
import { stopWithinGrace } from "./serve-stop.js";
import { CA_WRITTEN_DEBOUNCE_MS, watchCaStateFile, watchSwarmEvents } from "./serve-watch.js";
import { isLoopbackHost } from "./loopback.js";

export interface ServeOptions {
  listen?: string;
  adminTokenFile?: string;
  tls?: boolean;
  once?: boolean;
  /** Create the CA (key-encryption key file and secret too) when the store has none; reuse one that exists. */
  init?: boolean;
  /** Trust domain of a CA this run creates; an existing CA must have it. */
  trustDomain?: string;
  /** Serve SDS (sds.enabled); --sds-listen implies it. */
  sds?: boolean;
  sdsListen?: string;
}

/** A listen address: `host` as given to listen() (IPv6 without brackets), `text` as the operator wrote it. */
export interface ListenAddress {
  host: string;
  port: number;
  text: string;
}

/** Parses HOST:PORT (IPv6 as [::1]:PORT); MtlsError("bad-input") naming `what` otherwise. Pure. */
export function parseListen(text: string, what = "--listen"): ListenAddress {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw badInput(`${what}: '${text}' must be HOST:PORT (for example 127.0.0.1:8443)`);
  return { host: (m[1] as string).replace(/^\[(.*)\]$/, "$1"), port, text };
}

export { isLoopbackHost };

/**
 * Plain HTTP on a listener other hosts can reach: refused, since the admin token and the API would cross the network
 * in clear. Plain HTTP comes from --no-tls, `api.tls: off`, or `api.tls: auto` on the file store (no swarm).
 * Returns the one-line reason, or null when fine. Pure.
 */
export function plainHttpRefusal(p: { listen: ListenAddress; tlsFlag?: boolean; tlsSetting: "auto" | "on" | "off"; swarmMode: boolean }): string | null {
  const tlsOn = p.tlsFlag ?? (p.tlsSetting === "auto" ? p.swarmMode : p.tlsSetting === "on");
  if (tlsOn || isLoopbackHost(p.listen.host)) return null;
  const where = `which is only allowed on a loopback listener, not ${p.listen.text}: listen on 127.0.0.1:${p.listen.port} (--listen)`;
  if (p.tlsFlag === false || p.tlsSetting === "off") {
    const how = p.tlsFlag === false ? "--no-tls" : "api.tls: off";
    return `${how} serves plain HTTP, ${where}, or drop ${how} to serve HTTPS`;
  }
  return `api.tls: auto serves plain HTTP on the file store (no swarm), ${where}, or pass --tls (api.tls: on) to serve HTTPS with the file store's CA`;
}

/** sds.address as a DNS name of the API's certificate, when it is one. Pure. */
export function sdsAddressName(address: string | undefined): string[] {
  if (!address) return [];
  try {
    return [validateDnsName(address.toLowerCase())];
  } catch {
    return [];
  }
}

/** The API's per-address request limit from `api.rateLimit`; null when `max` is 0 (off). Pure. */
export function apiRateLimit(c: { max: number; window: string }): { max: number; windowMs: number } | null {
  return c.max === 0 ? null : { max: c.max, windowMs: parseDuration(c.window, "api.rateLimit.window") * 1000 };
}

/** The error for a listener that cannot be opened, naming the address and what to do; null for other errors. */
export function listenFailure(e: unknown, listen: ListenAddress): MtlsError | null {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "EADDRINUSE") return badInput(`cannot listen on ${listen.text}: the address is already in use (another swarm-mtls serve?); stop that process or choose another port with --listen`, e);
  if (code === "EADDRNOTAVAIL") return badInput(`cannot listen on ${listen.text}: not an address of this host; use 127.0.0.1, 0.0.0.0 or one of this host's addresses in --listen`, e);
  if (code === "EACCES") return badInput(`cannot listen on ${listen.text}: permission denied (ports below 1024 need privileges); choose a port of 1024 or more with --listen`, e);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return badInput(`cannot listen on ${listen.text}: the host name does not resolve; use an IP address in --listen`, e);
  return null;
}

/**
 * `serve`: keeps every opted-in service fresh (start, schedule, Docker events) and serves the HTTP API.
 * Without a reachable swarm it runs the embedded mode on the file store (identities from config), creating the CA
 * on first start, so that `npm start` works on a fresh machine; on a swarm manager `--init` creates the CA.
 * Its steps: settings → store → plane → listeners → reconciles → stop.
 */
export async function runServe(ctx: CliContext, o: ServeOptions): Promise<void> {
  const log = ctx.logger.child({ component: "serve" });
  // Every flag and setting is checked before anything is created or written (a bad --listen on a fresh file store
  // used to leave a new CA and KEK behind).
  const settings = await serveSettings(ctx, o);
  const where = await serveStore(ctx, o, settings.listen);
  // The first run: the embedded mode creates its CA, swarm mode with --init; an existing CA is reused.
  await ensureCa(ctx, where.store, { init: o.init, ...(o.trustDomain !== undefined ? { trustDomain: o.trustDomain } : {}) });
  const tlsAuthority = where.tlsOn ? await loadTlsAuthority(ctx) : null;
  const plane = await startPlane(ctx, where, log);
  const listeners = await startListeners(ctx, { settings, where, tlsAuthority, plane }, log);
  const reconciles = startReconciles(ctx, { plane: plane.plane, sds: listeners.sds, where }, log);
  const shutdown = serveStopper({ log, stopGraceMs: settings.stopGraceMs, plane, listeners, reconciles });
  if (o.once) {
    await reconciles.loop.idle();
    await shutdown("once");
    return;
  }

  await new Promise<void>((done) => {
    const stop = (sig: string) => void shutdown(sig).then(done);
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

/** serve's listeners, stop grace and admin token, from its flags and the configuration. */
interface ServeSettings {
  listen: ListenAddress;
  sdsListen: ListenAddress | null;
  stopGraceMs: number;
  adminToken: string | null;
}

async function serveSettings(ctx: CliContext, o: ServeOptions): Promise<ServeSettings> {
  const listen = parseListen(o.listen ?? ctx.config.api.listen, o.listen !== undefined ? "--listen" : "api.listen");
  const sdsOn = o.sds ?? (o.sdsListen !== undefined || ctx.config.sds.enabled);
  const sdsListen = sdsOn ? parseListen(o.sdsListen ?? ctx.config.sds.listen, o.sdsListen !== undefined ? "--sds-listen" : "sds.listen") : null;
  if (sdsListen && sdsListen.port === listen.port && sdsListen.port !== 0) throw badInput(`the SDS listener (${sdsListen.text}) needs a port of its own, not the API's ${listen.port}: use --sds-listen`);
  const stopGraceMs = parseDuration(ctx.config.serve.stopGrace, "serve.stopGrace") * 1000;
  const adminToken = await readAdminToken(o.adminTokenFile ?? ctx.config.api.adminTokenFile);
  return { listen, sdsListen, stopGraceMs, adminToken };
}

async function readAdminToken(tokenFile: string | undefined): Promise<string | null> {
  if (!tokenFile) return null;
  const adminToken = (await readFile(resolve(tokenFile), "utf8").catch((e: NodeJS.ErrnoException) => {
    throw badInput(`admin token file ${tokenFile}: cannot be read (${e.code})`);
  })).trim();
  if (adminToken.length < 16) throw badInput(`admin token file ${tokenFile}: the token must be at least 16 characters`);
  return adminToken;
}

/** The store serve keeps fresh (and its swarm), and how the API is served: the names of its certificate, TLS or not. */
interface ServeStore {
  store: CaStore;
  swarm: Swarm | undefined;
  swarmMode: boolean;
  kekFile: string;
  certNames: ApiCertNames;
  tlsOn: boolean;
}

async function serveStore(ctx: CliContext, o: ServeOptions, listen: ListenAddress): Promise<ServeStore> {
  const store = await ctx.store();
  const swarmMode = store.location === "swarm";
  const swarm = swarmMode ? await ctx.swarm() : undefined;
  const kekFile = ctx.kekFile(store);
  // The names clients call the API by (checked before anything is created).
  // The API's certificate also carries sds.address (the CA's name on the network workloads share with it), so that
  // a workload reaches POST /v1/renew by the same name as SDS.
  const certNames = apiCertNames({ listenHost: listen.host, names: [...ctx.config.api.names, ...sdsAddressName(ctx.config.sds.address)] });
  const refusal = plainHttpRefusal({ listen, tlsFlag: o.tls, tlsSetting: ctx.config.api.tls, swarmMode });
  if (refusal) throw badInput(refusal);
  const tlsOn = o.tls ?? (ctx.config.api.tls === "auto" ? swarmMode : ctx.config.api.tls === "on");
  return { store, swarm, swarmMode, kekFile, certNames, tlsOn };
}

/**
 * With TLS on, the CA must load now: serve never falls back to plain HTTP. It exits instead (Swarm restarts the
 * task, so a CA created later is picked up by the next start).
 */
function loadTlsAuthority(ctx: CliContext): Promise<Authority> {
  return ctx.authority().then(
    (r) => r.authority,
    (e: unknown) => {
      const why = (e as Error)?.message?.replace(/\s*\n\s*/g, " ") ?? String(e);
      throw new MtlsError(e instanceof MtlsError ? e.code : "internal", `TLS is on but the CA cannot be loaded, so the API is not started (no fallback to plain HTTP): ${why}`, { cause: e });
    },
  );
}

/** The serving plane (reconcile, status, rotate) with its metrics, and the signal that abandons its rollouts. */
interface ServePlane {
  plane: ServingPlane;
  metrics: Metrics;
  stopRollouts: AbortController;
}

async function startPlane(ctx: CliContext, s: ServeStore, log: Logger): Promise<ServePlane> {
  const metrics = createMetrics({ now: () => ctx.clock().getTime() });
  const stopRollouts = new AbortController();
  const plane = createServingPlane({
    store: s.store,
    kekFile: s.kekFile,
    config: ctx.config,
    logger: ctx.logger,
    metrics,
    stopSignal: stopRollouts.signal,
    now: ctx.clock,
    ...(s.swarm ? { swarm: s.swarm } : {}),
    ...(s.store.location.startsWith("file:") ? { dataDir: s.store.location.slice("file:".length) } : {}),
  });
  const ready = await plane.ready();
  if (!ready.ready) log.warn({ reason: ready.reason }, "not ready yet");
  return { plane, metrics, stopRollouts };
}

/** The API listener, the SDS listener (when on) and the renewal of the API's own certificate. */
interface ServeListeners {
  app: FastifyInstance;
  sds: ServeSds | null;
  renewal: { stop(): void } | null;
}

interface ListenerParams {
  settings: ServeSettings;
  where: ServeStore;
  tlsAuthority: Authority | null;
  plane: ServePlane;
}

async function startListeners(ctx: CliContext, p: ListenerParams, log: Logger): Promise<ServeListeners> {
  const { where, tlsAuthority } = p;
  const { plane } = p.plane;
  // POST /v1/renew: renewals over the API's mTLS, for the identities opted in to SDS (bound once SDS has started).
  const renewerSlot: { renewer: Renewer | null } = { renewer: null };
  const apiCert = tlsAuthority ? await issueApiCert(tlsAuthority, where.certNames.dnsNames, { ipAddresses: where.certNames.ipAddresses, now: ctx.clock() }) : null;
  const app = await startApi(ctx, p, apiCert, renewerSlot, log);
  const sdsListen = p.settings.sdsListen;
  const sds = sdsListen ? await startSds(ctx, p, sdsListen, app, renewerSlot) : null;

  // The API certificate is renewed at 2/3 of its lifetime and after a CA rotation, in the running listener.
  const renewal = apiCert
    ? keepApiCertFresh({ server: app.server as unknown as { setSecureContext(o: object): void }, current: apiCert, authority: () => plane.authority() ?? tlsAuthority, dnsNames: where.certNames.dnsNames, ipAddresses: where.certNames.ipAddresses, logger: ctx.logger, now: ctx.clock })
    : null;
  return { app, sds, renewal };
}

async function startApi(ctx: CliContext, p: ListenerParams, apiCert: ApiCert | null, renewerSlot: { renewer: Renewer | null }, log: Logger): Promise<FastifyInstance> {
  const { listen, sdsListen } = p.settings;
  // Admin by client certificate needs HTTPS; the names become this CA's admin SPIFFE IDs (/admin/<name>).
  const adminIdentities = p.tlsAuthority ? adminSpiffeIds(ctx.config.api.adminIdentities, p.tlsAuthority.trustDomain) : ctx.config.api.adminIdentities;
  const app: FastifyInstance = await buildApiApp({
    controlPlane: p.plane.plane,
    metrics: p.plane.metrics,
    logger: ctx.logger,
    adminToken: p.settings.adminToken,
    adminIdentities,
    bodyLimit: ctx.config.api.bodyLimit,
    rateLimit: apiRateLimit(ctx.config.api.rateLimit),
    https: apiCert ? { key: apiCert.key, cert: apiCert.cert, ca: apiCert.ca, requestCert: true, rejectUnauthorized: false } : null,
    renew: apiCert && sdsListen ? (r) => (renewerSlot.renewer ? renewerSlot.renewer.renew(r) : Promise.reject(new MtlsError("no-ca", "serve is starting; retry"))) : null,
  });
  try {
    await app.listen({ host: listen.host, port: listen.port });
  } catch (e) {
    await app.close().catch(() => undefined);
    throw listenFailure(e, listen) ?? e;
  }
  log.info({ listen: listen.text, tls: p.where.tlsOn, store: p.where.store.location, mode: p.where.swarmMode ? "swarm" : "embedded" }, "serving");
  return app;
}

/** SDS: mTLS only, whatever the API's TLS setting; it needs the CA now. Binds POST /v1/renew's renewer. */
async function startSds(ctx: CliContext, p: ListenerParams, sdsListen: ListenAddress, app: FastifyInstance, renewerSlot: { renewer: Renewer | null }): Promise<ServeSds> {
  const { plane, metrics } = p.plane;
  const swarm = p.where.swarm;
  try {
    const initial = plane.authority() ?? p.tlsAuthority ?? (await ctx.authority()).authority;
    const sds = await startServeSds({ listen: sdsListen, config: ctx.config, authority: () => plane.authority() ?? initial, initial, registry: metrics.registry, logger: ctx.logger, now: ctx.clock, env: process.env, ...(swarm ? { swarm } : {}) });
    renewerSlot.renewer = createRenewer({ authority: () => plane.authority() ?? initial, identity: (id) => sds.identity(id), workingTtlSeconds: sds.workingTtlSeconds, logger: ctx.logger, issued: (alg) => metrics.certificatesIssued(alg), env: process.env });
    return sds;
  } catch (e) {
    await app.close().catch(() => undefined);
    throw listenFailure(e, sdsListen) ?? e;
  }
}

/** The reconcile loop (start, schedule, lease retries) and the Docker events that ask it for a service. */
interface ServeReconciles {
  loop: ReturnType<typeof startReconcileLoop>;
  /** Stops the events and a pending lease retry (the loop itself is stopped within the grace). */
  stopTriggers(): void;
}

function startReconciles(ctx: CliContext, p: { plane: ServingPlane; sds: ServeSds | null; where: ServeStore }, log: Logger): ServeReconciles {
  const { plane, sds } = p;
  // A reconcile refused by another rotator's lease (e.g. the lease of a CA task that died with its manager) is tried
  // again just after that lease expires, not at the next schedule: this is what bounds the failover time.
  let leaseRetry: NodeJS.Timeout | null = null;
  const loop = startReconcileLoop({
    cron: ctx.config.schedule.cron,
    maintenanceWindow: ctx.config.schedule.maintenanceWindow,
    logger: ctx.logger,
    now: ctx.clock,
    reconcile: async (r) => {
      const result = await plane.reconcile(r);
      await sds?.refresh();
      if (result.leaseHeldUntil === undefined || leaseRetry) return;
      const delayMs = leaseRetryDelayMs({ heldUntil: result.leaseHeldUntil, now: ctx.clock(), ttlMs: ctx.config.seconds.leaseTtl * 1000 });
      log.info({ trigger: r.trigger, retryInSeconds: Math.round(delayMs / 1000) }, "reconcile refused by the lease; trying again when it expires");
      leaseRetry = setTimeout(() => {
        leaseRetry = null;
        loop.request(r);
      }, delayMs);
    },
  });
  loop.request({ trigger: "start" });

  const events = new AbortController();
  // A CA state written by someone else (a CLI rotate-ca or restore) is read at once, so that SDS pushes the new
  // bundle and working certificates without waiting for a reconcile.
  const caWritten = debounceKeys(CA_WRITTEN_DEBOUNCE_MS, (names) => {
    log.info({ written: names }, "the CA state changed in the store; reading it now");
    void plane.refreshCa().then(() => sds?.refresh());
  });
  events.signal.addEventListener("abort", () => caWritten.cancel());
  const { swarm, store } = p.where;
  if (swarm) watchSwarmEvents(swarm, { loop, caState: caStateConfigPattern(ctx.config.caStateName), caWritten: (name) => caWritten.push(name) }, events.signal, log);
  else if (store.location.startsWith("file:")) watchCaStateFile(store.location.slice("file:".length), (name) => caWritten.push(name), events.signal, log);
  return {
    loop,
    stopTriggers() {
      events.abort();
      if (leaseRetry) clearTimeout(leaseRetry);
    },
  };
}

/** How serve stops (once, on SIGTERM or SIGINT): see ARCHITECTURE.md, Decisions, "How `serve` stops". */
function serveStopper(p: { log: Logger; stopGraceMs: number; plane: ServePlane; listeners: ServeListeners; reconciles: ServeReconciles }): (signal: string) => Promise<void> {
  const { log, stopGraceMs, listeners } = p;
  let stopping = false;
  return async function shutdown(signal: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceSeconds: stopGraceMs / 1000 }, "stopping: waiting up to serve.stopGrace for the running reconcile, then releasing the lease");
    p.reconciles.stopTriggers();
    listeners.renewal?.stop();
    const sdsStopped = listeners.sds?.stop().catch(() => undefined);
    // No new requests from now on; one in flight (an admin rotate) ends with the running rollout.
    const closed = listeners.app.close().catch(() => undefined);
    const outcome = await stopWithinGrace({
      stop: () => p.reconciles.loop.stop(),
      graceMs: stopGraceMs,
      onGraceElapsed: () => log.warn({ graceSeconds: stopGraceMs / 1000 }, "serve.stopGrace elapsed: abandoning the running rollout (the service keeps rolling to its new secrets; the next reconcile carries on)"),
      abandon: () => p.plane.stopRollouts.abort(new MtlsError("timeout", "serve is stopping (serve.stopGrace elapsed); the next reconcile resumes this service")),
    });
    if (outcome === "gave-up") log.warn("the running reconcile did not return after being abandoned; exiting anyway (the lease expires by itself)");
    await Promise.race([Promise.all([closed, sdsStopped]), new Promise((done) => setTimeout(done, 2_000).unref())]);
    log.info({ reconcile: outcome }, "stopped");
    // Nothing we started may keep the process alive past the grace: at most stopGrace + 5 s (abandon) + 2 s (close)
    // + 1 s from SIGTERM to exit, below Docker's stop_grace_period when stopGrace is 10 s below it.
    setTimeout(() => process.exit(), 1_000).unref();
  };
}

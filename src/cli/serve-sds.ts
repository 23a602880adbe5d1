/**
 * The SDS part of `serve`: which identities are opted in (labels in swarm mode, `identities[].sds` in embedded mode),
 * the SDS listener with its own certificate (renewed like the API's), and the refresh after every reconcile.
 */
import type { Registry } from "prom-client";
import { spiffeIdFor, validateDnsName, type Authority } from "../ca/index.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load-config.js";
import { sdsServerSpiffeId } from "../envoy/envoy-sidecar-settings.js";
import type { Logger } from "../log.js";
import { gatherFleet } from "../rotation/fleet.js";
import { createSdsMetrics } from "../sds/sds-metrics.js";
import { startSdsServer, type SdsServer } from "../sds/sds-server.js";
import { workingTtlFloor, workingTtlSeconds, type SdsIdentity } from "../sds/working-cert.js";
import type { Swarm } from "../swarm/swarm.js";
import { apiCertNames, issueApiCert, keepApiCertFresh } from "./serve-api-cert.js";
import type { ListenAddress } from "./serve.js";

/** The identities opted in to SDS in embedded mode: `identities[]` entries with `sds: true`. Pure. */
export function embeddedSdsIdentities(config: Config, trustDomain: string): SdsIdentity[] {
  return config.identities
    .filter((id) => id.sds === true)
    .map((id) => ({
      spiffeId: spiffeIdFor({ trustDomain, identity: id.name }),
      identity: id.name,
      service: id.name,
      dnsNames: [...new Set(id.dns.map(validateDnsName))],
      ...(id.keyAlgorithm ? { keyAlgorithm: id.keyAlgorithm } : {}),
    }));
}

/** The identities opted in to SDS in swarm mode: services with valid labels, `mtls.enable=true` and `mtls.sds=true`. */
export async function swarmSdsIdentities(swarm: Swarm, a: Authority, config: Config, now: Clock): Promise<SdsIdentity[]> {
  const fleet = await gatherFleet(swarm, a, config, { force: false, now: now() });
  return fleet.entries.flatMap((e) =>
    e.identity?.sds && !e.error
      ? [{ spiffeId: e.identity.spiffeId, identity: e.identity.identity, service: e.service.name, dnsNames: e.identity.dnsNames, keyAlgorithm: e.identity.keyAlgorithm }]
      : [],
  );
}

/** At most one on-demand re-read of the opted-in identities this often (an unknown caller's request triggers it). */
const RELOAD_INTERVAL_MS = 2000;

export interface ServeSds {
  server: SdsServer;
  /** The working lifetime in force (sds.workingTtl), seconds. */
  workingTtlSeconds: number;
  /** The identity opted in with this SPIFFE ID; one (throttled) re-read of the list when it is not known yet. */
  identity(spiffeId: string): Promise<SdsIdentity | undefined>;
  /** Re-reads who is opted in; closes streams of identities that are not any more. Never throws. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

export async function startServeSds(p: {
  listen: ListenAddress;
  config: Config;
  authority: () => Authority | null;
  initial: Authority;
  registry: Registry;
  logger: Logger;
  now: Clock;
  swarm?: Swarm;
  env: Record<string, string | undefined>;
}): Promise<ServeSds> {
  const log = p.logger.child({ component: "sds" });
  const ttl = workingTtlSeconds({ text: p.config.sds.workingTtl, floorSeconds: workingTtlFloor(p.env), maxLeafTtlSeconds: p.initial.maxLeafTtlSeconds });
  // The listener's certificate carries the CA's SDS SPIFFE ID (pinned by the sidecars' bootstraps) and the DNS names
  // it is reached at, when they are host names (Swarm's tasks.<stack>_<service> is not).
  const names = apiCertNames(p.listen.host);
  if (p.config.sds.address) {
    try {
      names.push(validateDnsName(p.config.sds.address.toLowerCase()));
    } catch {
      /* not a host name: the SPIFFE ID identifies the listener */
    }
  }
  const uris = (a: Authority) => [sdsServerSpiffeId(a.trustDomain)];
  const cert = await issueApiCert(p.initial, [...new Set(names)], { now: p.now(), identity: "swarm-mtls-sds", uris: uris(p.initial) });
  const host = p.listen.host.includes(":") ? `[${p.listen.host}]` : p.listen.host;
  // A caller the list does not know yet (a task that started before the reconcile that labelled it finished) makes
  // one re-read: concurrent callers share it, and there is at most one every RELOAD_INTERVAL_MS.
  let reloading: Promise<void> | null = null;
  let lastReload = 0;
  function reload(): Promise<void> {
    if (reloading) return reloading;
    if (p.now().getTime() - lastReload < RELOAD_INTERVAL_MS) return Promise.resolve();
    lastReload = p.now().getTime();
    reloading = refresh().finally(() => {
      reloading = null;
    });
    return reloading;
  }
  const server = await startSdsServer({
    listen: `${host}:${p.listen.port}`,
    tls: { key: cert.key, cert: cert.cert, ca: cert.ca },
    authority: p.authority,
    workingTtlSeconds: ttl,
    renewBefore: p.config.leaf.renewBefore,
    jitter: p.config.leaf.jitter,
    logger: p.logger,
    metrics: createSdsMetrics(p.registry),
    reloadIdentities: () => reload(),
  });
  const renewal = keepApiCertFresh({ server: server.credentials, current: cert, authority: p.authority, dnsNames: [...new Set(names)], logger: p.logger, now: p.now, identity: "swarm-mtls-sds", uris });
  const refresh = async (): Promise<void> => {
    const a = p.authority();
    if (!a) return;
    try {
      const ids = p.swarm ? await swarmSdsIdentities(p.swarm, a, p.config, p.now) : embeddedSdsIdentities(p.config, a.trustDomain);
      await server.refresh(ids);
      // A CA rotation also changes the trust bundle client certificates are checked against.
      await renewal.check();
    } catch (e) {
      log.warn({ err: (e as Error).message }, "SDS: could not read the opted-in identities; keeping the previous list");
    }
  };
  await refresh();
  return {
    server,
    workingTtlSeconds: ttl,
    async identity(spiffeId) {
      if (!server.identity(spiffeId)) await reload();
      return server.identity(spiffeId);
    },
    refresh,
    async stop() {
      renewal.stop();
      await server.stop();
    },
  };
}

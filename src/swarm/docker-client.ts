/**
 * The one module that talks to dockerode. Everything else in swarm-mtls sees the `Swarm` interface.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleepMs } from "node:timers/promises";
import Docker from "dockerode";
import { MtlsError } from "../errors.js";
import { dockerError, isNotFound } from "./docker-error.js";
import { resolveDockerEndpoint, type DockerConnectionParams } from "./docker-connection.js";
import type { DockerConfig, DockerNetwork, DockerSecret, DockerService, DockerTask, ServiceSpec } from "./docker-types.js";
import { readConfigRecord, readNetworkRecord, readSecretRecord } from "./object-record.js";
import { retryRead } from "./retry-read.js";
import { readServiceRecord } from "./service-record.js";
import { readTaskRecord } from "./task-record.js";
import type { EventsWatchParams, ObjectCreateParams, ObjectListParams, Swarm, SwarmEvent, SwarmInfo } from "./swarm.js";

/** Builds the dockerode client. Every connection field is set explicitly so docker-modem never reads process.env. */
function buildDockerode(p: DockerConnectionParams): Docker {
  const ep = resolveDockerEndpoint(p);
  let ca: Buffer | undefined;
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  if (ep.tls) {
    try {
      ca = readFileSync(ep.tls.caFile);
      cert = readFileSync(ep.tls.certFile);
      key = readFileSync(ep.tls.keyFile);
    } catch (e) {
      throw new MtlsError("bad-input", `docker: cannot read TLS files from ${ep.tls.caFile.replace(/\/ca\.pem$/, "")}`, { cause: e });
    }
  }
  const opts: Docker.DockerOptions & { pathPrefix?: string; agent?: unknown } = {
    socketPath: ep.socketPath,
    host: ep.hostname,
    port: ep.port,
    protocol: ep.protocol,
    ca,
    cert,
    key,
    timeout: ep.timeoutMs,
    version: undefined,
    pathPrefix: "/",
  };
  return new Docker(opts as Docker.DockerOptions);
}

function labelFilters(p?: ObjectListParams): { filters?: { label: string[] } } {
  return p?.label && p.label.length > 0 ? { filters: { label: p.label } } : {};
}

/** Connects to the engine described by `p` (see `dockerConnectionFromEnv`). Lazy: no call is made until used. */
export function connectSwarm(p: DockerConnectionParams = {}): Swarm {
  const docker = buildDockerode(p);
  // The event stream is long-lived and may stay quiet for minutes: docker-modem's `timeout` is a socket idle timeout,
  // so a client with one would cut the stream after every quiet spell. Events get a client without it.
  let eventsDocker: Docker | undefined;
  const eventsClient = (): Docker => (eventsDocker ??= buildDockerode({ ...p, timeoutMs: 0 }));

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw dockerError(what, e);
    }
  }
  /** An idempotent read (GET): a reset connection or a 5xx is tried again, bounded (see retryRead). */
  function read<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retryRead(() => call(what, fn));
  }
  async function tolerateNotFound(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await call(what, fn);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  const swarm: Swarm = {
    async info(): Promise<SwarmInfo> {
      const [info, version] = await Promise.all([
        read("info", () => docker.info() as Promise<{ ServerVersion?: string; Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string; Nodes?: number } }>),
        read("version", () => docker.version() as Promise<{ ApiVersion?: string; Version?: string }>),
      ]);
      const nodeId = info.Swarm?.NodeID;
      return {
        engineVersion: info.ServerVersion ?? version.Version ?? "",
        apiVersion: version.ApiVersion ?? "",
        swarmActive: info.Swarm?.LocalNodeState === "active",
        isManager: info.Swarm?.ControlAvailable === true,
        ...(nodeId ? { nodeId } : {}),
        ...(typeof info.Swarm?.Nodes === "number" && info.Swarm.Nodes > 0 ? { nodes: info.Swarm.Nodes } : {}),
      };
    },

    async listServices(lp) {
      const list = await read("list services", () => docker.listServices(labelFilters(lp)) as Promise<unknown> as Promise<DockerService[]>);
      return list.map(readServiceRecord);
    },

    async inspectService(idOrName) {
      const json = await read(`inspect service ${idOrName}`, () => docker.getService(idOrName).inspect() as Promise<DockerService>);
      return readServiceRecord(json);
    },

    async updateService(id, version, spec) {
      await call(`update service ${spec.Name ?? id}`, () =>
        docker.getService(id).update({ _query: { version }, _body: spec } as never) as Promise<unknown>,
      );
    },

    async createService(spec: ServiceSpec) {
      const res = await call(`create service ${spec.Name ?? ""}`.trim(), () =>
        docker.createService({ _body: spec } as never) as Promise<unknown> as Promise<{ ID?: string; id?: string }>,
      );
      return res.ID ?? res.id ?? "";
    },

    async removeService(id) {
      await tolerateNotFound(`remove service ${id}`, () => docker.getService(id).remove());
    },

    async listTasks({ serviceId }) {
      const list = await read(`list tasks of service ${serviceId}`, () =>
        docker.listTasks({ filters: { service: [serviceId] } }) as Promise<DockerTask[]>,
      );
      // The service filter also accepts names and prefixes of ids: keep only this service's tasks.
      const exact = list.filter((t) => t.ServiceID === serviceId);
      return (exact.length > 0 || list.length === 0 ? exact : list).map(readTaskRecord);
    },

    async listNetworks() {
      const list = await read("list networks", () => docker.listNetworks() as Promise<unknown> as Promise<DockerNetwork[]>);
      return list.map(readNetworkRecord);
    },

    async inspectNetwork(idOrName) {
      const json = await read(`inspect network ${idOrName}`, () => docker.getNetwork(idOrName).inspect() as Promise<unknown> as Promise<DockerNetwork>);
      return readNetworkRecord(json);
    },

    async createSecret({ name, data, labels }: ObjectCreateParams) {
      const res = await call(`create secret ${name}`, () =>
        docker.createSecret({ Name: name, Labels: labels ?? {}, Data: data.toString("base64") }) as Promise<unknown> as Promise<{ ID?: string; id?: string }>,
      );
      return res.ID ?? res.id ?? "";
    },

    async listSecrets(lp) {
      const list = await read("list secrets", () => docker.listSecrets(labelFilters(lp)) as Promise<unknown> as Promise<DockerSecret[]>);
      return list.map(readSecretRecord);
    },

    async findSecret(name) {
      const list = await read(`find secret ${name}`, () => docker.listSecrets({ filters: { name: [name] } }) as Promise<unknown> as Promise<DockerSecret[]>);
      const hit = list.find((s) => s.Spec?.Name === name);
      return hit ? readSecretRecord(hit) : null;
    },

    async removeSecret(id) {
      await tolerateNotFound(`remove secret ${id}`, () => docker.getSecret(id).remove());
    },

    async createConfig({ name, data, labels }: ObjectCreateParams) {
      const res = await call(`create config ${name}`, () =>
        docker.createConfig({ Name: name, Labels: labels ?? {}, Data: data.toString("base64") }) as Promise<unknown> as Promise<{ ID?: string; id?: string }>,
      );
      return res.ID ?? res.id ?? "";
    },

    async listConfigs(lp) {
      const list = await read("list configs", () => docker.listConfigs(labelFilters(lp)) as Promise<unknown> as Promise<DockerConfig[]>);
      return list.map(readConfigRecord);
    },

    async findConfig(name) {
      const list = await read(`find config ${name}`, () => docker.listConfigs({ filters: { name: [name] } }) as Promise<unknown> as Promise<DockerConfig[]>);
      const hit = list.find((c) => c.Spec?.Name === name);
      return hit ? readConfigRecord(hit) : null;
    },

    async removeConfig(id) {
      await tolerateNotFound(`remove config ${id}`, () => docker.getConfig(id).remove());
    },

    async updateConfigLabels(c, labels) {
      // ConfigUpdate (API 1.30+): Name and Data must be sent back unchanged; the version makes it conditional.
      await call(`update config ${c.name}`, () =>
        docker.getConfig(c.id).update({ _query: { version: c.version }, _body: { Name: c.name, Labels: labels, Data: c.data.toString("base64") } } as never) as unknown as Promise<unknown>,
      );
    },

    async events(ep: EventsWatchParams, onEvent: (e: SwarmEvent) => void) {
      const { signal } = ep;
      const first = ep.backoffMs ?? 500;
      const max = ep.maxBackoffMs ?? 10_000;
      let delay = first;
      let since: number | undefined;
      while (!signal.aborted) {
        try {
          const stream = await call("watch events", () =>
            eventsClient().getEvents({
              filters: { type: ep.types },
              ...(since !== undefined ? { since } : {}),
              abortSignal: signal,
            } as Docker.GetEventsOptions) as Promise<NodeJS.ReadableStream>,
          );
          delay = first;
          ep.onConnected?.();
          await readEventStream(stream, signal, (e) => {
            since = Math.floor(e.time.getTime() / 1000);
            onEvent(e);
          });
          if (signal.aborted) return;
          throw new MtlsError("docker", "docker: event stream ended");
        } catch (e) {
          if (signal.aborted) return;
          ep.onReconnect?.(e, delay);
          try {
            await sleepMs(delay, undefined, { signal });
          } catch {
            return;
          }
          delay = Math.min(max, delay * 2);
        }
      }
    },
  };
  return swarm;
}

/** Splits the engine's newline-delimited JSON event stream into SwarmEvents. Resolves at end or abort. */
function readEventStream(stream: NodeJS.ReadableStream, signal: AbortSignal, onEvent: (e: SwarmEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const done = (err?: unknown) => {
      signal.removeEventListener("abort", onAbort);
      stream.removeAllListeners("data");
      if (err && !signal.aborted) reject(err);
      else resolve();
    };
    const onAbort = () => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      done();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    stream.on("data", (chunk: Buffer | string) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const e = parseSwarmEvent(line);
        if (e) onEvent(e);
      }
    });
    stream.on("end", () => done());
    stream.on("close", () => done());
    stream.on("error", (err: unknown) => done(err));
  });
}

/** Parses one line of GET /events. Unknown types and malformed lines read as null. */
export function parseSwarmEvent(line: string): SwarmEvent | null {
  let j: { Type?: string; Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; time?: number; timeNano?: number };
  try {
    j = JSON.parse(line);
  } catch {
    return null;
  }
  if (j.Type !== "service" && j.Type !== "secret" && j.Type !== "config") return null;
  const attributes = { ...(j.Actor?.Attributes ?? {}) };
  const time = j.timeNano ? new Date(Math.floor(j.timeNano / 1e6)) : new Date((j.time ?? 0) * 1000);
  return {
    type: j.Type,
    action: j.Action ?? "",
    id: j.Actor?.ID ?? "",
    ...(attributes.name ? { name: attributes.name } : {}),
    time,
    attributes,
  };
}

import type { ConfigReference, SecretReference, ServiceSpec, UpdateState } from "./docker-types.js";

/** How the service schedules its tasks. */
export type ServiceModeName = "replicated" | "global" | "replicated-job" | "global-job";

/** A service as swarm-mtls sees it: the raw Docker spec plus the few facts we decide on. */
export interface ServiceRecord {
  id: string;
  name: string;
  /** `Version.Index`: pass it back to `updateService`. */
  version: number;
  /** Service labels (`Spec.Labels`), where the `mtls.*` opt-in lives. */
  labels: Record<string, string>;
  /** The raw spec, unchanged: patch a copy and send it back. */
  spec: ServiceSpec;
  previousSpec?: ServiceSpec;
  mode: ServiceModeName;
  /** Replicas wanted (replicated mode only). */
  replicas?: number;
  /** `Spec.TaskTemplate.ContainerSpec.Secrets` (empty when none). */
  secretRefs: SecretReference[];
  /** `Spec.TaskTemplate.ContainerSpec.Configs` (empty when none). */
  configRefs: ConfigReference[];
  updateStatus?: { state?: UpdateState; startedAt?: Date; completedAt?: Date; message?: string };
  createdAt?: Date;
  updatedAt?: Date;
}

/** One task (one container attempt) of a service. */
export interface TaskRecord {
  id: string;
  serviceId: string;
  /** Replica slot; absent for global services. */
  slot?: number;
  nodeId?: string;
  /** What the orchestrator wants: `running`, `shutdown`, `ready`, … */
  desiredState: string;
  /** What the task is: `new`, `pending`, `assigned`, `preparing`, `starting`, `running`, `failed`, `rejected`, `shutdown`, … */
  state: string;
  message: string;
  /** The engine's error for this task, e.g. `task: non-zero exit (3)`. */
  err?: string;
  exitCode?: number;
  /** Secret ids mounted into this task (`Spec.ContainerSpec.Secrets[].SecretID`). */
  secretIds: string[];
  /** Config ids mounted into this task. */
  configIds: string[];
  containerId?: string;
  version: number;
  createdAt?: Date;
  updatedAt?: Date;
}

/** A Docker secret's metadata (its data can never be read back). */
export interface SecretRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
  version: number;
  createdAt?: Date;
}

/** A Docker config; unlike secrets its data can be read back. */
export interface ConfigRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
  version: number;
  createdAt?: Date;
  /** The config's content (decoded from base64). */
  data: Buffer;
}

/** An object change reported by the engine's event stream. */
export interface SwarmEvent {
  type: "service" | "secret" | "config";
  /** `create`, `update`, `remove`. */
  action: string;
  /** Object id. */
  id: string;
  /** Object name when the engine says it (`Actor.Attributes.name`). */
  name?: string;
  time: Date;
  attributes: Record<string, string>;
}

export interface SwarmInfo {
  engineVersion: string;
  apiVersion: string;
  swarmActive: boolean;
  isManager: boolean;
  nodeId?: string;
  /** Nodes in the swarm (`Swarm.Nodes` of GET /info), when the engine says. */
  nodes?: number;
}

/** A Docker network as `docker network inspect` shows it (the fields the audit reads). */
export interface NetworkRecord {
  id: string;
  name: string;
  /** `overlay`, `bridge`, `host`, `null`, `macvlan`, … */
  driver: string;
  /** `swarm` or `local`. */
  scope: string;
  /** Created with `--internal`: no route out of the network. */
  internal: boolean;
  attachable: boolean;
  /** The routing-mesh network (`ingress`). */
  ingress: boolean;
  /** Driver options (`encrypted`, …) as the engine stores them. */
  options: Record<string, string>;
  labels: Record<string, string>;
}

export interface ObjectListParams {
  /** Label filters as the engine takes them: `key` or `key=value`; all must match. Default: none. */
  label?: string[];
}

export interface ObjectCreateParams {
  /** Exact object name (≤ 64 chars). */
  name: string;
  /** Content. Never logged, never put into error messages. */
  data: Buffer;
  /** Labels; default none. */
  labels?: Record<string, string>;
}

export interface EventsWatchParams {
  /** Object types to watch. */
  types: ("service" | "secret" | "config")[];
  /** Stops the watch; the promise resolves once aborted. */
  signal: AbortSignal;
  /** First reconnect delay in ms; doubles up to `maxBackoffMs`. Default 500. */
  backoffMs?: number;
  /** Longest reconnect delay in ms. Default 10 000. */
  maxBackoffMs?: number;
  /** Called each time the stream is open (first connect and every reconnect). Default: nothing. */
  onConnected?: () => void;
  /** Called when the stream broke and is being reopened. Default: nothing. */
  onReconnect?: (error: unknown, delayMs: number) => void;
}

/** The Swarm as swarm-mtls uses it. Only `connectSwarm` (docker-client.ts) knows it is dockerode underneath. */
export interface Swarm {
  info(): Promise<SwarmInfo>;
  listServices(p?: ObjectListParams): Promise<ServiceRecord[]>;
  /** MtlsError("not-found") when absent. */
  inspectService(idOrName: string): Promise<ServiceRecord>;
  /** MtlsError("docker"); `isOutOfSequence(e)` tells a stale `version`. */
  updateService(id: string, version: number, spec: ServiceSpec): Promise<void>;
  /** Returns the new service id. */
  createService(spec: ServiceSpec): Promise<string>;
  /** not-found tolerated. */
  removeService(id: string): Promise<void>;
  listTasks(p: { serviceId: string }): Promise<TaskRecord[]>;
  /** Every network this engine lists (swarm-scoped and local). */
  listNetworks(): Promise<NetworkRecord[]>;
  /** One network by id or name, including swarm-level ones GET /networks leaves out (the swarm's `host`). MtlsError("not-found") when absent. */
  inspectNetwork(idOrName: string): Promise<NetworkRecord>;
  /** Returns the new secret id; `isNameConflict(e)` when the name exists. */
  createSecret(p: ObjectCreateParams): Promise<string>;
  listSecrets(p?: ObjectListParams): Promise<SecretRecord[]>;
  /** Exact name match (the engine's name filter matches substrings). */
  findSecret(name: string): Promise<SecretRecord | null>;
  /** not-found tolerated. */
  removeSecret(id: string): Promise<void>;
  /** Returns the new config id; `isNameConflict(e)` when the name exists. */
  createConfig(p: ObjectCreateParams): Promise<string>;
  listConfigs(p?: ObjectListParams): Promise<ConfigRecord[]>;
  /** Exact name match, with the decoded data. */
  findConfig(name: string): Promise<ConfigRecord | null>;
  /** not-found tolerated. */
  removeConfig(id: string): Promise<void>;
  /**
   * Replaces a config's labels (the only part of a config the engine lets change), if its `Version.Index` is still
   * `config.version`: a compare-and-swap. `isOutOfSequence(e)` when it changed since; MtlsError("not-found") when gone.
   */
  updateConfigLabels(config: Pick<ConfigRecord, "id" | "name" | "version" | "data">, labels: Record<string, string>): Promise<void>;
  /** Streams events until `signal` aborts, reconnecting with backoff (resuming from the last event seen). */
  events(p: EventsWatchParams, onEvent: (e: SwarmEvent) => void): Promise<void>;
}

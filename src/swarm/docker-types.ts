/**
 * The Docker Engine API shapes swarm-mtls reads and writes (API 1.41), transcribed from the Engine API reference.
 * Only the fields we touch are named; every object keeps an index signature so fields we do not know survive a
 * read → patch → update round trip untouched. These are wire types: the rest of the code reads records
 * (`ServiceRecord`, `TaskRecord`, …), not these.
 */

/** A value the engine sent that we do not model. */
type Unknown = { [key: string]: unknown };

export interface SecretReference extends Unknown {
  File?: { Name?: string; UID?: string; GID?: string; Mode?: number; [key: string]: unknown };
  SecretID?: string;
  SecretName?: string;
}

export interface ConfigReference extends Unknown {
  /** Absent for configs used as a credential spec (Runtime). */
  File?: { Name?: string; UID?: string; GID?: string; Mode?: number; [key: string]: unknown };
  ConfigID?: string;
  ConfigName?: string;
}

export interface HealthConfig extends Unknown {
  Test?: string[];
  /** Nanoseconds. */
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface ContainerSpec extends Unknown {
  Image?: string;
  Command?: string[];
  Args?: string[];
  Env?: string[];
  /** Nanoseconds; engine default 10 s. */
  StopGracePeriod?: number;
  Healthcheck?: HealthConfig;
  Secrets?: SecretReference[];
  Configs?: ConfigReference[];
}

export interface TaskTemplate extends Unknown {
  ContainerSpec?: ContainerSpec;
  ForceUpdate?: number;
}

export interface UpdateConfig extends Unknown {
  /** 0 = all at once; engine default 1. */
  Parallelism?: number;
  /** Nanoseconds between batches; default 0. */
  Delay?: number;
  FailureAction?: "pause" | "continue" | "rollback" | string;
  /** Nanoseconds a new task is watched for failure; engine default 5 s. */
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: "stop-first" | "start-first" | string;
}

export interface ServiceMode extends Unknown {
  Replicated?: { Replicas?: number };
  Global?: Unknown;
  ReplicatedJob?: { MaxConcurrent?: number; TotalCompletions?: number };
  GlobalJob?: Unknown;
}

export interface PortConfig extends Unknown {
  Name?: string;
  Protocol?: "tcp" | "udp" | "sctp";
  TargetPort?: number;
  PublishedPort?: number;
  PublishMode?: "ingress" | "host";
}

export interface EndpointSpec extends Unknown {
  Mode?: "vip" | "dnsrr";
  Ports?: PortConfig[];
}

/** Docker's ServiceSpec, as `docker service inspect` shows it under `.Spec` and as `service update` takes it. */
export interface ServiceSpec extends Unknown {
  Name?: string;
  Labels?: Record<string, string>;
  TaskTemplate?: TaskTemplate;
  Mode?: ServiceMode;
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  EndpointSpec?: EndpointSpec;
}

export type UpdateState = "updating" | "paused" | "completed" | "rollback_started" | "rollback_paused" | "rollback_completed";

/** One element of `docker service inspect` / GET /services. */
export interface DockerService extends Unknown {
  ID: string;
  Version?: { Index?: number };
  CreatedAt?: string;
  UpdatedAt?: string;
  Spec?: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  UpdateStatus?: { State?: UpdateState; StartedAt?: string; CompletedAt?: string; Message?: string };
}

/** One element of GET /tasks. */
export interface DockerTask extends Unknown {
  ID: string;
  Version?: { Index?: number };
  CreatedAt?: string;
  UpdatedAt?: string;
  ServiceID?: string;
  Slot?: number;
  NodeID?: string;
  DesiredState?: string;
  Spec?: TaskTemplate;
  Status?: {
    Timestamp?: string;
    State?: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; PID?: number; ExitCode?: number };
  };
}

/** One element of GET /secrets (secret data is never returned by the engine). */
export interface DockerSecret extends Unknown {
  ID: string;
  Version?: { Index?: number };
  CreatedAt?: string;
  UpdatedAt?: string;
  Spec?: { Name?: string; Labels?: Record<string, string> };
}

/** One element of GET /configs; `Spec.Data` is base64. */
export interface DockerConfig extends Unknown {
  ID: string;
  Version?: { Index?: number };
  CreatedAt?: string;
  UpdatedAt?: string;
  Spec?: { Name?: string; Labels?: Record<string, string>; Data?: string };
}

/** One element of GET /networks. */
export interface DockerNetwork extends Unknown {
  Id: string;
  Name?: string;
  Driver?: string;
  Scope?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

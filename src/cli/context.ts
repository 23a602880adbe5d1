import { constants, existsSync } from "node:fs";
import { access } from "node:fs/promises";
import { resolve } from "node:path";
import { readPublicAuthority, type Authority } from "../ca/index.js";
import { loadConfig, type Config } from "../config/load-config.js";
import { systemClock, type Clock } from "../clock.js";
import { MtlsError } from "../errors.js";
import { createLogger, type Logger } from "../log.js";
import type { CaStore } from "../store/ca-store.js";
import { openFileStore } from "../store/file-store.js";
import { readKekFile } from "../store/kek-file.js";
import { openStoredAuthority } from "../store/open-ca-state.js";
import { openSwarmStore } from "../store/swarm-store.js";
import { connectSwarm } from "../swarm/docker-client.js";
import { dockerConnectionFromEnv } from "../swarm/docker-connection.js";
import type { Swarm } from "../swarm/swarm.js";
import { cliInvocation, initAdvice, swarmMtlsOnPath, type CliInvocation } from "./invocation.js";

/** Options every command accepts (see main.ts). */
export interface GlobalOptions {
  config?: string;
  store?: string;
  kekFile?: string;
  json?: boolean;
  logLevel?: string;
}

/** What a command gets to work with. Built once per run from flags, environment and config files. */
export interface CliContext {
  config: Config;
  logger: Logger;
  json: boolean;
  env: Record<string, string | undefined>;
  /** How this process was run, for advice that runs as typed. */
  cli: CliInvocation;
  /** The clock every command and `serve` hand down (the only place the CLI reads the real one). */
  clock: Clock;
  /** The command that creates a CA here (see initAdvice), with the --config/--store/--kek-file the operator gave. */
  initAdvice(p?: { serve?: boolean }): string;
  /** Opens the configured store (resolving `auto`). */
  store(): Promise<CaStore>;
  /** The key-encryption key file in use: --kek-file, SWARM_MTLS_KEK_FILE, kekFile in config, else see kekFileFor. */
  kekFile(store: CaStore): string;
  /** Opens the CA from the store with the key-encryption key. */
  authority(): Promise<{ authority: Authority; store: CaStore }>;
  /**
   * The CA for commands that only read public data (status, ca show, envoy): opened with the key-encryption key when
   * its file can be read here (authenticated, as authority()); else its public part read without the key, which the
   * document MAC cannot vouch for (`authenticated: false`; a note on stderr says so, stdout is unchanged).
   */
  publicAuthority(): Promise<{ authority: Authority; store: CaStore; authenticated: boolean }>;
  /** The swarm this command works on; MtlsError("docker") when no swarm manager answers. */
  swarm(): Promise<Swarm>;
}

export interface CliContextCreateParams {
  global: GlobalOptions;
  /** Command-specific flag overrides as dotted config paths. */
  flags?: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** Log level when neither --log-level nor SWARM_MTLS_LOG_LEVEL nor the config file sets one; default "warn"
   * for one-shot commands (their output is the result; audit lines still go out at warn and above in serve). */
  defaultLogLevel?: string;
  /** process.argv[1] and process.cwd() unless given (tests). */
  argv1?: string;
  /** Where notes for people go (not command output); default process.stderr. */
  notes?: (line: string) => void;
  /** The system clock unless given (tests). */
  clock?: Clock;
  cwd?: string;
}

/** Where the swarm store's key-encryption key file is when none is configured, relative to the working directory. */
export const SWARM_KEK_FALLBACK = "data/kek";

/**
 * The key-encryption key file when none is configured: the file store's DIR/kek; in swarm mode the mounted secret
 * (/run/secrets/<kekSecretName>, inside the CA service) when it is there, else ./data/kek, where `serve --init` and
 * `init` create it on a manager. Pure.
 */
export function kekFileFor(p: { configured: string; swarm: boolean; storeDefault: string; storeDefaultExists: boolean; cwd: string }): string {
  if (p.configured) return resolve(p.cwd, p.configured);
  if (!p.swarm || p.storeDefaultExists) return p.storeDefault;
  return resolve(p.cwd, SWARM_KEK_FALLBACK);
}

const canRead = (file: string): Promise<boolean> => access(file, constants.R_OK).then(() => true, () => false);

/** What read-only commands tell people when they ran without the key-encryption key. Pure. */
export function unauthenticatedNote(location: string, kekFile: string): string {
  return `swarm-mtls: note: no readable key-encryption key (${kekFile}): the CA certificates were read from the CA state in ${location} without it, so they are not authenticated (the state's MAC needs the key); compare the root fingerprint with \`swarm-mtls ca show\` where the key is, or pass --kek-file`;
}

export function createCliContext(p: CliContextCreateParams): CliContext {
  const config = loadConfig({
    file: p.global.config,
    env: p.env,
    flags: { store: p.global.store, kekFile: p.global.kekFile, "log.level": p.global.logLevel, ...p.flags },
  });
  const levelChosen = p.global.logLevel !== undefined || p.env.SWARM_MTLS_LOG_LEVEL !== undefined || config.sources.some((s) => s.startsWith("/"));
  const logger = createLogger({ level: levelChosen ? config.log.level : (p.defaultLogLevel ?? "warn") });
  let storePromise: Promise<CaStore> | undefined;
  let swarmPromise: Promise<Swarm | null> | undefined;
  /** The swarm when this engine is an active manager, else null (a missing engine is not an error here). */
  const probeSwarm = (): Promise<Swarm | null> => {
    swarmPromise ??= (async () => {
      const swarm = connectSwarm({ ...dockerConnectionFromEnv(p.env), timeoutMs: 10_000 });
      try {
        const info = await swarm.info();
        return info.swarmActive && info.isManager ? swarm : null;
      } catch (e) {
        logger.debug({ component: "cli", err: (e as Error).message }, "no Docker engine answered");
        return null;
      }
    })();
    return swarmPromise;
  };
  const cwd = p.cwd ?? process.cwd();
  const argv1 = p.argv1 ?? process.argv[1];
  const cli = cliInvocation({ argv1, cwd, env: p.env, onPath: swarmMtlsOnPath(argv1, p.env.PATH) });
  const givenFlags = [
    ...(p.global.config ? ["--config", p.global.config] : []),
    ...(p.global.store ? ["--store", p.global.store] : []),
    ...(p.global.kekFile ? ["--kek-file", p.global.kekFile] : []),
  ];
  const ctx: CliContext = {
    config,
    logger,
    json: p.global.json === true,
    env: p.env,
    cli,
    clock: p.clock ?? systemClock,
    initAdvice: (o = {}) => initAdvice(cli, { serve: o.serve === true, flags: givenFlags }),
    store() {
      storePromise ??= (async () => {
        const spec = config.store;
        if (spec.startsWith("file:")) return openFileStore(resolve(cwd, spec.slice("file:".length)));
        const swarm = await probeSwarm();
        if (swarm) return openSwarmStore(swarm, { caStateName: config.caStateName, kekSecretName: config.kekSecretName });
        if (spec === "swarm") {
          throw new MtlsError("docker", "store swarm: no swarm manager reachable (is this a manager node? is /var/run/docker.sock mounted or DOCKER_HOST set?)");
        }
        logger.debug({ component: "cli" }, "no swarm manager reachable; using the file store ./data");
        return openFileStore(resolve(cwd, "data"));
      })();
      return storePromise;
    },
    async swarm() {
      const swarm = await probeSwarm();
      if (!swarm) {
        throw new MtlsError("docker", "no swarm manager reachable: run this on a manager node (or set DOCKER_HOST), with the swarm initialised");
      }
      return swarm;
    },
    kekFile(store) {
      const storeDefault = store.defaultKekFile();
      const swarm = store.location === "swarm";
      return kekFileFor({ configured: config.kekFile, swarm, storeDefault, storeDefaultExists: swarm && existsSync(storeDefault), cwd });
    },
    async authority() {
      const store = await ctx.store();
      if ((await store.readCaState()) === null) {
        throw new MtlsError("no-ca", `no CA in ${store.location}: create one with \`${ctx.initAdvice()}\``);
      }
      const kekFile = ctx.kekFile(store);
      if (!existsSync(kekFile)) {
        const where = store.location === "swarm" && !config.kekFile ? `neither ${store.defaultKekFile()} (inside the CA service) nor ${kekFile} exists` : `${kekFile} does not exist`;
        throw new MtlsError("kek", `the CA in ${store.location} cannot be opened: no key-encryption key (${where}); pass --kek-file FILE with the key it was created with`);
      }
      const kek = await readKekFile(kekFile);
      const authority = await openStoredAuthority(store, kek, logger);
      if (authority === null) throw new MtlsError("no-ca", `no CA in ${store.location}`);
      return { authority, store };
    },
    async publicAuthority() {
      const store = await ctx.store();
      const doc = await store.readCaState();
      if (doc === null) throw new MtlsError("no-ca", `no CA in ${store.location}: create one with \`${ctx.initAdvice()}\``);
      const kekFile = ctx.kekFile(store);
      if (await canRead(kekFile)) return { ...(await ctx.authority()), authenticated: true };
      const authority = readPublicAuthority(doc);
      (p.notes ?? ((line: string) => process.stderr.write(`${line}\n`)))(unauthenticatedNote(store.location, kekFile));
      return { authority, store, authenticated: false };
    },
  };
  return ctx;
}

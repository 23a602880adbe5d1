import { lstat, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  createAuthority,
  describeAuthority,
  parseKeyAlgorithm,
  sealAuthority,
  validateTrustDomain,
  type CaCertificateInfo,
} from "../ca/index.js";
import { parseDuration } from "../config/duration.js";
import { parseLeafTtl } from "../config/leaf-ttl.js";
import { badInput, MtlsError } from "../errors.js";
import { prepareFileAtomic, type PreparedFile } from "../store/atomic-write.js";
import { ensureKekFile, readKekFile } from "../store/kek-file.js";
import type { CaStore } from "../store/ca-store.js";
import type { SwarmStore } from "../store/swarm-store.js";
import type { CliContext } from "./context.js";
import { shellWord } from "./invocation.js";

const isSwarmStore = (s: CaStore): s is SwarmStore => s.location === "swarm";
import { table } from "./output.js";

export interface InitOptions {
  /** Under an upstream CA, step 1: write the pending intermediate's CSR here (see init-upstream.ts). */
  intermediateCsr?: string;
  /** Step 2: the upstream-signed intermediate certificate to import, with --upstream-bundle. */
  importIntermediate?: string;
  /** The upstream root(s), PEM: the trust bundle of a CA under an upstream CA. */
  upstreamBundle?: string;
  trustDomain?: string;
  keyAlg?: string;
  rootTtl?: string;
  intermediateTtl?: string;
  maxLeafTtl?: string;
  offlineRoot?: string;
  rootPassphraseFile?: string;
  force?: boolean;
}

/** Where an init wrote (store, KEK), whichever kind of init it was. */
export interface InitWhere {
  store: string;
  trustDomain: string;
  kekFile: string;
  kekCreated: boolean;
  /** Swarm store: whether the KEK secret was created now or existed. */
  kekSecret: "created" | "exists" | null;
  /** Swarm store: name of the KEK secret (config kekSecretName). */
  kekSecretName?: string;
}

export interface InitResult extends InitWhere {
  offlineRootKeyFile: string | null;
  certificates: CaCertificateInfo[];
  next: string[];
}

/** Where an init wrote: its store, its trust domain, and the key-encryption key it used (see prepareKek). */
export function initWhere(store: CaStore, trustDomain: string, k: Pick<PreparedKek, "kekFile" | "kekCreated" | "kekSecret">): InitWhere {
  return {
    store: store.location,
    trustDomain,
    kekFile: k.kekFile,
    kekCreated: k.kekCreated,
    kekSecret: k.kekSecret,
    ...(isSwarmStore(store) ? { kekSecretName: store.kekSecretName } : {}),
  };
}

export async function runInit(ctx: CliContext, o: InitOptions): Promise<InitResult> {
  const settings = initSettings(ctx, o);
  const offlineRootKeyFile = await checkOfflineRootFile(o);
  // Read the passphrase before anything is written: a bad one must leave no key-encryption key behind.
  const passphrase = await readRootPassphrase(o);

  const store = await ctx.store();
  // Refuse early, before any key is made, when a CA exists and --force was not given.
  if (!o.force && (await store.readCaState()) !== null) {
    throw new MtlsError("ca-exists", `a CA already exists in ${store.location} (use --force to replace it; services keep their certificates until rotated)`);
  }
  const prepared = await prepareKek(ctx, store, { create: true });

  const { authority, offlineRootKeyPem } = await createAuthority({
    ...settings,
    offlineRoot: o.offlineRoot && passphrase ? { passphrase } : undefined,
  });
  await storeCa(store, sealAuthority(authority, prepared.kek), {
    force: o.force === true,
    rootKey: offlineRootKeyFile && offlineRootKeyPem ? { file: offlineRootKeyFile, pem: offlineRootKeyPem } : null,
  });
  ctx.logger.info({ component: "ca", trustDomain: settings.trustDomain, store: store.location }, "CA initialised");

  const next = nextSteps(ctx, store, prepared.kekFile);
  if (offlineRootKeyFile) next.unshift(`move ${offlineRootKeyFile} somewhere offline: it is the only copy of the root key`);
  return {
    ...initWhere(store, settings.trustDomain, prepared),
    offlineRootKeyFile,
    certificates: describeAuthority(authority),
    next,
  };
}

/** The new CA's trust domain, key algorithm and lifetimes: the flags, else the configuration. */
function initSettings(ctx: CliContext, o: InitOptions) {
  const c = ctx.config;
  const trustDomain = validateTrustDomain(o.trustDomain ?? c.ca.trustDomain);
  const keyAlgorithm = parseKeyAlgorithm(o.keyAlg ?? c.ca.keyAlgorithm);
  const rootTtlSeconds = o.rootTtl ? parseDuration(o.rootTtl, "--root-ttl") : c.seconds.rootTtl;
  const intermediateTtlSeconds = o.intermediateTtl ? parseDuration(o.intermediateTtl, "--intermediate-ttl") : c.seconds.intermediateTtl;
  const maxLeafTtlSeconds = o.maxLeafTtl ? parseLeafTtl(o.maxLeafTtl, "--max-leaf-ttl") : c.seconds.maxLeafTtl;
  if (intermediateTtlSeconds > rootTtlSeconds) throw badInput("--intermediate-ttl must not be longer than --root-ttl");
  if (o.offlineRoot && !o.rootPassphraseFile) {
    throw badInput("--offline-root needs --root-passphrase-file FILE (the passphrase that encrypts the root key file)");
  }
  return { trustDomain, keyAlgorithm, rootTtlSeconds, intermediateTtlSeconds, maxLeafTtlSeconds };
}

/** --offline-root FILE, resolved. An existing file may be another CA's only root key: never replaced without --force. */
async function checkOfflineRootFile(o: InitOptions): Promise<string | null> {
  const offlineRootKeyFile = o.offlineRoot ? resolve(o.offlineRoot) : null;
  if (offlineRootKeyFile) {
    const st = await lstat(offlineRootKeyFile).catch(() => null);
    if (st && !st.isFile()) throw badInput(`--offline-root ${offlineRootKeyFile}: exists and is not a regular file`);
    if (st && !o.force) {
      throw badInput(`--offline-root ${offlineRootKeyFile}: the file exists (it may hold another CA's root key); choose a new file name, or pass --force to overwrite it`);
    }
  }
  return offlineRootKeyFile;
}

async function readRootPassphrase(o: InitOptions): Promise<string | undefined> {
  if (!o.rootPassphraseFile) return undefined;
  const passphrase = (await readFile(resolve(o.rootPassphraseFile), "utf8").catch((e: NodeJS.ErrnoException) => {
    throw badInput(`--root-passphrase-file ${o.rootPassphraseFile}: cannot be read (${e.code})`);
  })).trim();
  if (passphrase.length < 16) throw badInput("--root-passphrase-file: the passphrase must be at least 16 characters");
  return passphrase;
}

/**
 * Stores the sealed CA state and, with an offline root, its root key file. The root key is written and synced under
 * a temporary name first, and takes its name only once the CA state is stored: a failure leaves no root key file
 * (and never a CA whose root key was not written).
 */
async function storeCa(store: CaStore, sealed: string, p: { force: boolean; rootKey: { file: string; pem: string } | null }): Promise<void> {
  const file = p.rootKey?.file;
  let rootKey: PreparedFile | null = null;
  if (p.rootKey) {
    rootKey = await prepareFileAtomic(p.rootKey.file, p.rootKey.pem, { mode: 0o400 }).catch((e: NodeJS.ErrnoException) => {
      throw badInput(`--offline-root ${file}: cannot be written (${e.code ?? e.message})`);
    });
  }
  try {
    await store.writeCaState(sealed, { replace: p.force });
  } catch (e) {
    await rootKey?.discard();
    throw e;
  }
  if (rootKey) {
    const tmp = rootKey.path;
    await rootKey.commit({ exclusive: !p.force }).catch((e: NodeJS.ErrnoException) => {
      throw new MtlsError("internal", `the CA is stored, but its root key could not be named ${file} (${e.code ?? e.message}); it is in ${tmp}: move it somewhere offline`);
    });
  }
}

/** What `init` prints as the next steps once a CA is stored. */
export function nextSteps(ctx: CliContext, store: CaStore, kekFile: string): string[] {
  const c = ctx.config;
  const cli = ctx.cli.command;
  const { storeFlag, kekFlag } = storeFlags(ctx, kekFile);
  return store.location.startsWith("file:")
    ? [
        `${cli} issue web --dns web.local --out ./certs/web${storeFlag}   # issue a certificate`,
        `${cli} ca show${storeFlag}                                       # inspect the CA`,
      ]
    : [
        `keep ${kekFile} safe and off this host (the swarm has it as secret ${c.kekSecretName}, mounted only into the CA service)`,
        `${ctx.cli.npmStart ? `npm start${kekFlag ? " --" : ""}` : `${cli} serve`}${kekFlag}   # keep opted-in services fresh (or deploy serve as a stack)`,
        `docker service update --label-add ${c.labelPrefix}enable=true <service>   # opt a service in`,
      ];
}

/** The --store and --kek-file flags to repeat in a printed command line (empty when the defaults apply). */
export function storeFlags(ctx: CliContext, kekFile: string): { storeFlag: string; kekFlag: string } {
  return {
    storeFlag: ctx.config.store === "auto" ? "" : ` --store ${shellWord(ctx.config.store)}`,
    kekFlag: ctx.config.kekFile ? ` --kek-file ${shellWord(kekFile)}` : "",
  };
}

export interface PreparedKek {
  kekFile: string;
  kekCreated: boolean;
  kek: Uint8Array;
  /** Swarm store: whether the KEK secret was created now or existed. */
  kekSecret: "created" | "exists" | null;
}

/**
 * The key-encryption key a CA (or a pending intermediate) is sealed under: its file (swarm store without --kek-file:
 * ./data/kek, see kekFileFor; created when missing if `create`) and, in a swarm, the KEK secret made from it. A
 * swarm secret holding another key is refused.
 */
export async function prepareKek(ctx: CliContext, store: CaStore, p: { create: boolean }): Promise<PreparedKek> {
  const kekFile = ctx.kekFile(store);
  const kekCreated = p.create ? await ensureKekFile(kekFile) : false;
  const kek = await readKekFile(kekFile);
  let kekSecret: PreparedKek["kekSecret"] = null;
  if (isSwarmStore(store)) {
    const state = await store.ensureKekSecret(kek);
    if (state === "mismatch") {
      throw new MtlsError("kek", `the swarm already has a ${store.kekSecretName} secret made from another key than ${kekFile}; use that key (--kek-file) or remove the secret first`);
    }
    kekSecret = state;
  }
  return { kekFile, kekCreated, kek, kekSecret };
}

export function showInit(r: InitResult): string {
  const lines = [
    `CA initialised for trust domain ${r.trustDomain} in ${r.store}`,
    r.kekCreated ? `key-encryption key created: ${r.kekFile} (mode 0400; back it up, it opens the CA keys)` : `key-encryption key: ${r.kekFile}`,
    ...(r.kekSecret ? [`key-encryption key secret ${r.kekSecretName ?? "swarm-mtls-kek"}: ${r.kekSecret}`] : []),
    "",
    showCertificates(r.certificates),
    "",
    "Next:",
    ...r.next.map((n) => `  ${n}`),
  ];
  return lines.join("\n");
}

export function showCertificates(certs: CaCertificateInfo[]): string {
  return table(
    ["role", "subject", "algorithm", "not before", "not after", "key", "sha256 fingerprint"],
    certs.map((c) => [c.role, c.subject, c.keyAlgorithm, c.notBefore.toISOString(), c.notAfter.toISOString(), c.keyOnline ? "online" : "offline", c.fingerprint]),
  );
}

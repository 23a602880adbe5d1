/**
 * `init` under an upstream CA (the company's PKI) in two steps. `init --intermediate-csr FILE` makes the intermediate's
 * key, keeps it sealed under the KEK in the store as a *pending* intermediate and writes its CSR; the operator has it
 * signed upstream. `init --import-intermediate CERT --upstream-bundle ROOT` checks the signed certificate against the
 * pending key and the root (src/ca/upstream.ts) and stores the CA: the upstream root is its trust bundle, offline.
 */
import { lstat, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { describeAuthority, parseKeyAlgorithm, readPublicAuthority, sealAuthority, validateTrustDomain } from "../ca/index.js";
import { openPendingIntermediate, sealPendingIntermediate } from "../ca/pending-state.js";
import { completeWithUpstream, createPendingIntermediate } from "../ca/upstream.js";
import { x509 } from "../ca/x509.js";
import { parseLeafTtl } from "../config/leaf-ttl.js";
import { badInput, MtlsError } from "../errors.js";
import { prepareFileAtomic } from "../store/atomic-write.js";
import { readKekFile } from "../store/kek-file.js";
import type { CliContext } from "./context.js";
import { initWhere, nextSteps, prepareKek, storeFlags, type InitOptions, type InitResult, type InitWhere } from "./init.js";
import { shellWord } from "./invocation.js";

/** The flags each step takes besides the global ones; `--force` goes with both. */
const CSR_ONLY = ["trustDomain", "keyAlg", "maxLeafTtl"] as const;
const FLAG: Record<string, string> = {
  trustDomain: "--trust-domain", keyAlg: "--key-alg", maxLeafTtl: "--max-leaf-ttl", rootTtl: "--root-ttl", intermediateTtl: "--intermediate-ttl",
  offlineRoot: "--offline-root", rootPassphraseFile: "--root-passphrase-file",
};

/**
 * Which `init` this is, or why its flags do not go together: a CA of its own (`own`), step 1 (`csr`) or step 2
 * (`import`) under an upstream CA. The root and the intermediate's lifetime are the upstream's under it, and step 2
 * takes the trust domain, algorithm and leaf limit from step 1. Pure.
 */
export function initKind(o: InitOptions): "own" | "csr" | "import" {
  const given = (keys: readonly string[]): string[] => keys.filter((k) => (o as Record<string, unknown>)[k] !== undefined).map((k) => FLAG[k] as string);
  if (o.intermediateCsr !== undefined && (o.importIntermediate !== undefined || o.upstreamBundle !== undefined)) {
    throw badInput("--intermediate-csr starts a CA under your upstream CA, --import-intermediate/--upstream-bundle completes it: run them as two init commands");
  }
  if (o.intermediateCsr !== undefined) {
    const wrong = given(["rootTtl", "intermediateTtl", "offlineRoot", "rootPassphraseFile"]);
    if (wrong.length > 0) throw badInput(`--intermediate-csr: ${wrong.join(", ")} do not apply (the root is your upstream CA's, and it sets the intermediate's lifetime when it signs)`);
    return "csr";
  }
  if (o.importIntermediate === undefined && o.upstreamBundle === undefined) return "own";
  if (o.importIntermediate === undefined || o.upstreamBundle === undefined) {
    throw badInput("--import-intermediate CERT and --upstream-bundle ROOT go together: the signed intermediate and the root that signed it");
  }
  const wrong = given([...CSR_ONLY, "rootTtl", "intermediateTtl", "offlineRoot", "rootPassphraseFile"]);
  if (wrong.length > 0) throw badInput(`--import-intermediate: ${wrong.join(", ")} do not apply (the trust domain, key algorithm and leaf limit were set by --intermediate-csr; the root is the upstream's)`);
  return "import";
}

export interface InitCsrResult extends InitWhere {
  /** Where the CSR was written. */
  csrFile: string;
  subject: string;
  keyAlgorithm: string;
  next: string[];
}

/**
 * Step 1: a pending intermediate sealed in the store, its CSR in a file. A CA in the store (--force) stays until the
 * import, and the trust domain, key algorithm and leaf limit not given default to its own.
 */
export async function runInitCsr(ctx: CliContext, o: InitOptions): Promise<InitCsrResult> {
  const c = ctx.config;
  const csrFile = resolve(o.intermediateCsr as string);
  const st = await lstat(csrFile).catch(() => null);
  if (st && !st.isFile()) throw badInput(`--intermediate-csr ${csrFile}: exists and is not a regular file`);

  const store = await ctx.store();
  const current = await store.readCaState();
  if (!o.force && current !== null) {
    throw new MtlsError("ca-exists", `a CA already exists in ${store.location}; --force makes a pending intermediate to replace it (the current CA keeps working until the import, which needs --force too)`);
  }
  // Renewing (a CA is there): what is not given stays as the current CA has it, not the configuration's default.
  const was = current === null ? null : publicPartOf(current);
  const trustDomain = validateTrustDomain(o.trustDomain ?? was?.trustDomain ?? c.ca.trustDomain);
  const keyAlgorithm = parseKeyAlgorithm(o.keyAlg ?? was?.defaultKeyAlgorithm ?? c.ca.keyAlgorithm);
  const maxLeafTtlSeconds = o.maxLeafTtl ? parseLeafTtl(o.maxLeafTtl, "--max-leaf-ttl") : (was?.maxLeafTtlSeconds ?? c.seconds.maxLeafTtl);
  const old = await store.readPendingIntermediate();
  if (!o.force && old !== null) {
    throw new MtlsError("ca-exists", `${store.location} already holds a pending intermediate waiting for its signed certificate (init --import-intermediate); --force replaces its key, and a certificate signed from its CSR will then be refused`);
  }
  const prepared = await prepareKek(ctx, store, { create: true });
  const { kekFile, kek } = prepared;
  const pending = await createPendingIntermediate({ trustDomain, keyAlgorithm, maxLeafTtlSeconds });
  const csr = await prepareFileAtomic(csrFile, pending.csrPem, { mode: 0o644 }).catch((e: NodeJS.ErrnoException) => {
    throw badInput(`--intermediate-csr ${csrFile}: cannot be written (${e.code ?? e.message})`);
  });
  try {
    await store.writePendingIntermediate(sealPendingIntermediate(pending, kek));
  } catch (e) {
    await csr.discard();
    throw e;
  }
  await csr.commit();
  ctx.logger.info({ component: "ca", trustDomain, store: store.location }, "pending intermediate created, CSR written");
  const { storeFlag, kekFlag } = storeFlags(ctx, kekFile);
  return {
    ...initWhere(store, trustDomain, prepared),
    csrFile,
    subject: new x509.Pkcs10CertificateRequest(pending.csrPem).subject,
    keyAlgorithm,
    next: [
      `have ${shellWord(csrFile)} signed by your CA as an intermediate CA (CA:TRUE, pathlen:0, keyCertSign), e.g. with an openssl root:`,
      `  openssl x509 -req -in ${shellWord(csrFile)} -CA root.pem -CAkey root.key -days 365 -copy_extensions copy -out intermediate.pem`,
      `${ctx.cli.command} init --import-intermediate intermediate.pem --upstream-bundle root.pem${o.force ? " --force" : ""}${storeFlag}${kekFlag}`,
    ],
  };
}

/** The current CA's public part, or null when it cannot be read (a damaged state that --force is replacing). */
function publicPartOf(doc: string): ReturnType<typeof readPublicAuthority> | null {
  try {
    return readPublicAuthority(doc);
  } catch {
    return null;
  }
}

export function showInitCsr(r: InitCsrResult): string {
  return [
    `pending intermediate for trust domain ${r.trustDomain} in ${r.store}: its ${r.keyAlgorithm} key is sealed there, its CSR written to ${r.csrFile}`,
    `subject ${r.subject}; asks for CA:TRUE, pathlen:0, keyCertSign, cRLSign`,
    r.kekCreated ? `key-encryption key created: ${r.kekFile} (mode 0400; back it up, it opens the CA keys)` : `key-encryption key: ${r.kekFile}`,
    ...(r.kekSecret ? [`key-encryption key secret ${r.kekSecretName ?? "swarm-mtls-kek"}: ${r.kekSecret}`] : []),
    "",
    "Next:",
    ...r.next.map((n) => `  ${n}`),
  ].join("\n");
}

const readPem = (file: string, flag: string): Promise<string> =>
  readFile(resolve(file), "utf8").catch((e: NodeJS.ErrnoException) => {
    throw badInput(`${flag} ${file}: cannot be read (${e.code ?? e.message})`);
  });

/**
 * Step 2: the signed intermediate checked against the pending key and the upstream root, then stored as the CA (the
 * root without its key, as an offline root). Any refusal leaves the store as it was, pending intermediate included.
 */
export async function runInitImport(ctx: CliContext, o: InitOptions): Promise<InitResult> {
  const intermediatePem = await readPem(o.importIntermediate as string, "--import-intermediate");
  const upstreamPem = await readPem(o.upstreamBundle as string, "--upstream-bundle");
  const store = await ctx.store();
  const doc = await store.readPendingIntermediate();
  if (doc === null) {
    throw new MtlsError("no-ca", `${store.location} holds no pending intermediate: run \`${ctx.cli.command} init --intermediate-csr FILE\` first, and have that CSR signed`);
  }
  if (!o.force && (await store.readCaState()) !== null) {
    throw new MtlsError("ca-exists", `a CA already exists in ${store.location}; pass --force to replace it with the imported one (services keep their certificates until rotated)`);
  }
  // Everything is checked before anything is written (the KEK secret included): a refusal changes nothing.
  const kekFile = ctx.kekFile(store);
  const authority = completeWithUpstream({ pending: openPendingIntermediate(doc, await readKekFile(kekFile)), intermediatePem, upstreamPem, now: new Date() });
  const { kek, kekSecret } = await prepareKek(ctx, store, { create: false });
  await store.writeCaState(sealAuthority(authority, kek), { replace: o.force === true });
  await store.dropPendingIntermediate().catch((e: unknown) => {
    ctx.logger.warn({ component: "ca", err: e }, "the CA is stored, but its pending intermediate could not be removed (a later import is refused without --force)");
  });
  ctx.logger.info({ component: "ca", trustDomain: authority.trustDomain, store: store.location }, "CA initialised under an upstream root");
  return {
    ...initWhere(store, authority.trustDomain, { kekFile, kekCreated: false, kekSecret }),
    offlineRootKeyFile: null,
    certificates: describeAuthority(authority),
    next: nextSteps(ctx, store, kekFile),
  };
}

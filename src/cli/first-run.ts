/**
 * The first run is part of `serve`: `serve --init` (`npm start -- --init --trust-domain D`) creates the CA when the
 * store has none, and the embedded mode (file store) always does; an existing CA is reused, never replaced.
 */
import { validateTrustDomain } from "../ca/index.js";
import { badInput, MtlsError } from "../errors.js";
import type { CaStore } from "../store/ca-store.js";
import type { CliContext } from "./context.js";
import { runInit } from "./init.js";
import { serveAdvice } from "./invocation.js";

export interface FirstRunFacts {
  /** swarm: the CA is made only on request (--init); embedded: on the first start. */
  mode: "swarm" | "embedded";
  init: boolean;
  /** Trust domain of the CA in the store; null when there is none. */
  existing: string | null;
  /** --trust-domain, validated; undefined when not given. */
  trustDomain?: string;
}

export type FirstRunStep =
  | { step: "create" }
  | { step: "reuse"; note: string | null }
  | { step: "refuse"; why: "no-ca" | "other-trust-domain"; message: string };

/** What serve does about the CA before it starts. Pure. */
export function firstRunStep(f: FirstRunFacts, where: string): FirstRunStep {
  if (f.existing === null) {
    if (f.init || f.mode === "embedded") return { step: "create" };
    return { step: "refuse", why: "no-ca", message: `no CA in ${where}` };
  }
  if (f.trustDomain !== undefined && f.trustDomain !== f.existing) {
    return {
      step: "refuse",
      why: "other-trust-domain",
      message: `the CA in ${where} is for trust domain ${f.existing}, not ${f.trustDomain}; nothing was created. Drop --trust-domain to use that CA (an existing CA is never replaced by serve)`,
    };
  }
  return { step: "reuse", note: f.init ? `a CA for trust domain ${f.existing} already exists in ${where}: --init creates nothing, serving with it` : null };
}

/** The trust domain a CA state document names (readable without the key-encryption key); "?" when unreadable. */
export function trustDomainOf(doc: string): string {
  try {
    const td = (JSON.parse(doc) as { trustDomain?: unknown }).trustDomain;
    return typeof td === "string" ? td : "?";
  } catch {
    return "?";
  }
}

/** Creates the CA when firstRunStep says so (key-encryption key file and secret too); throws what it refuses. */
export async function ensureCa(ctx: CliContext, store: CaStore, o: { init?: boolean; trustDomain?: string }): Promise<void> {
  const log = ctx.logger.child({ component: "serve" });
  const mode = store.location === "swarm" ? "swarm" : "embedded";
  const trustDomain = o.trustDomain === undefined ? undefined : validateTrustDomain(o.trustDomain);
  const doc = await store.readCaState();
  // The trust domain is in the clear in the CA state; the key-encryption key is checked where the CA is opened.
  const existing = doc === null ? null : trustDomainOf(doc);
  // An unreadable CA state is reported where the CA is opened, with the real reason.
  const compare = trustDomain && existing !== "?" ? { trustDomain } : {};
  const step = firstRunStep({ mode, init: o.init === true, existing, ...compare }, store.location);
  if (step.step === "refuse" && step.why === "no-ca") {
    throw new MtlsError("no-ca", `${step.message}: create it and serve with \`${ctx.initAdvice({ serve: true })}\` (or run the embedded mode on this host's files: \`${serveAdvice(ctx.cli, ["--store", "file:./data"])}\`)`);
  }
  if (step.step === "refuse") throw badInput(step.message);
  if (step.step === "reuse") {
    if (step.note) log.info({ store: store.location, trustDomain: existing }, step.note);
    return;
  }
  try {
    const r = await runInit(ctx, trustDomain ? { trustDomain } : {});
    log.info(
      { store: r.store, trustDomain: r.trustDomain, kekFile: r.kekFile, kekCreated: r.kekCreated, ...(r.kekSecret ? { kekSecret: r.kekSecretName, kekSecretState: r.kekSecret } : {}) },
      r.kekCreated
        ? `no CA found: created one (key-encryption key ${r.kekFile}, mode 0400: keep it safe, it opens the CA keys)`
        : `no CA found: created one (key-encryption key ${r.kekFile})`,
    );
  } catch (e) {
    // Another process made the CA between our read and our write: use that one.
    if (!(e instanceof MtlsError && e.code === "ca-exists")) throw e;
    log.info({ store: store.location }, "a CA was created meanwhile by another process: serving with it");
  }
}

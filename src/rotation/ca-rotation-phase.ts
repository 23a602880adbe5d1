/**
 * Pure decisions of a CA rotation: which step runs next, what the authority looks like during each step, whether a
 * step's rollout is finished, and whether `serve` should start a rotation on its own.
 */
import { createHash, X509Certificate as NodeX509Certificate } from "node:crypto";
import { certFingerprint, type Authority, type CaKeyPair } from "../ca/index.js";
import { readCaRotationRecord, readRetiredCas, type CaRotation, type CaRotationPhase, type CaRotationRecord } from "./ca-rotation-record.js";

/** The four steps; each ends in the phase of the same index in CA_ROTATION_PHASES. */
export const CA_ROTATION_STEPS = ["prepare", "trust", "issue", "retire"] as const;
export type CaRotationStep = (typeof CA_ROTATION_STEPS)[number];

const PHASE_OF: Record<CaRotationStep, CaRotationPhase> = { prepare: "prepared", trust: "trusted", issue: "issued", retire: "complete" };

/** The phase a step ends in. */
export const phaseAfter = (step: CaRotationStep): CaRotationPhase => PHASE_OF[step];

/** The step that runs next: `prepare` when no rotation is in progress (none yet, or the last one complete). */
export function nextCaRotationStep(record: CaRotationRecord | null): CaRotationStep {
  switch (record?.phase) {
    case "prepared":
      return "trust";
    case "trusted":
      return "issue";
    case "issued":
      return "retire";
    default:
      return "prepare";
  }
}

/** The steps a run does: from the next one to `retire`, or only the next one with `--step`. */
export function caRotationStepsToRun(record: CaRotationRecord | null, oneStep: boolean): CaRotationStep[] {
  const from = CA_ROTATION_STEPS.indexOf(nextCaRotationStep(record));
  const all = CA_ROTATION_STEPS.slice(from);
  return oneStep ? all.slice(0, 1) : all;
}

/** What comes after this step, for "finished X, next Y" (`complete` after retire). */
export function stepAfter(step: CaRotationStep): CaRotationStep | "complete" {
  const i = CA_ROTATION_STEPS.indexOf(step);
  return CA_ROTATION_STEPS[i + 1] ?? "complete";
}

const fp = (pair: CaKeyPair): string => certFingerprint(pair);

/**
 * The authority a step publishes (pure; applying it twice gives the same result, so a resumed step is the same step):
 * - trust: a root rotation trusts the new root next to the old one (new first); an intermediate rotation changes nothing;
 * - issue: the new intermediate issues; a root rotation sends the cross certificate after it in leaf chains;
 * - retire: a root rotation drops the old root and the cross certificate.
 */
export function authorityForStep(a: Authority, r: CaRotation, step: Exclude<CaRotationStep, "prepare">): Authority {
  const kind = r.record.kind;
  const next: Authority = { ...a, roots: [...a.roots] };
  if (kind === "root" && r.newRoot && (step === "trust" || step === "issue")) {
    const newFp = fp(r.newRoot);
    const existing = a.roots.find((x) => fp(x) === newFp);
    next.roots = [existing ?? r.newRoot, ...a.roots.filter((x) => fp(x) !== newFp)];
  }
  if (step === "issue" || step === "retire") {
    if (fp(a.intermediate) !== fp(r.newIntermediate)) next.intermediate = r.newIntermediate;
    if (kind === "root" && step === "issue" && r.cross) next.chain = [r.cross];
  }
  if (kind === "root" && step === "retire") {
    next.roots = next.roots.filter((x) => fp(x) !== r.record.oldRoot);
    delete next.chain;
  }
  return next;
}

/** Fingerprints of what an authority publishes (roots, intermediate, chain): equal shapes need no new state. */
export function authorityShape(a: Authority): string {
  return [a.roots.map(fp).join(","), fp(a.intermediate), (a.chain ?? []).map(fp).join(",")].join("|");
}

/**
 * Intermediates that no longer issue but whose leaves still verify against a root that stays trusted: the replaced
 * intermediate of a rotation (in progress or done) and the retired ones, when unexpired at `now` and signed by a
 * root of the bundle that is not being retired (the old root of a root rotation, once its new intermediate issues).
 * An SDS bootstrap certificate they issued keeps authenticating its service to the SDS listener, so a CA rotation
 * need not restart the service to replace it. Before a root rotation's issue step the old root still issues and stays
 * trusted until retire, which comes after issue: replacing such a bootstrap then would only get a leaf of the same
 * leaving root, and a second restart in the issue step. Pure. Fingerprints as leaf labels record issuers (SHA-256 of
 * the DER).
 */
export function lastingIssuers(a: Authority, now: Date): Set<string> {
  const record = readCaRotationRecord(a);
  const newIssues = record !== null && fp(a.intermediate) === createHash("sha256").update(new NodeX509Certificate(record.newIntermediate.certPem).raw).digest("hex");
  const leaving = record && record.kind === "root" && record.phase !== "complete" && newIssues ? record.oldRoot : undefined;
  const roots = a.roots.filter((r) => fp(r) !== leaving).map((r) => new NodeX509Certificate(r.certPem));
  const candidates = [...(record ? [record.oldIntermediate.certPem] : []), ...readRetiredCas(a).filter((x) => x.role === "intermediate").map((x) => x.certPem)];
  const current = fp(a.intermediate);
  const out = new Set<string>();
  for (const pem of candidates) {
    const c = new NodeX509Certificate(pem);
    const f = createHash("sha256").update(c.raw).digest("hex");
    if (f === current || out.has(f) || now < new Date(c.validFrom) || now >= new Date(c.validTo)) continue;
    if (roots.some((r) => c.checkIssued(r) && c.verify(r.publicKey))) out.add(f);
  }
  return out;
}

/** One managed service as a CA rotation sees it. */
export interface CaRotationServiceView {
  service: string;
  /** Issuer fingerprint of the generation the service mounts; null when it mounts none. */
  issuer: string | null;
  /**
   * The service mounts the trust bundle the CA publishes now, or (SDS mode) a bootstrap bundle that still verifies the
   * SDS listener (bootstrap-trust.ts): no step waits for it to change.
   */
  bundleCurrent: boolean;
  /** An SDS-mode service whose bootstrap's issuer is lasting (lastingIssuers): no step waits for its new leaf. */
  issuerLasting?: boolean;
}

/** How far the fleet is: services on the current bundle and on the new intermediate, out of all managed ones. */
export interface CaRotationProgress {
  total: number;
  onCurrentBundle: number;
  onNewIntermediate: number;
  /** Services a step still waits for (bundle for trust/retire, new leaf for issue). */
  pending: string[];
}

/** Progress of a step over the managed services. Pure. */
export function caRotationProgress(services: CaRotationServiceView[], newIntermediate: string, step: CaRotationStep): CaRotationProgress {
  const onBundle = services.filter((s) => s.bundleCurrent);
  const onNew = services.filter((s) => s.issuer === newIntermediate);
  const onOld = (s: CaRotationServiceView): boolean => s.issuer !== newIntermediate && s.issuerLasting !== true;
  const pending =
    step === "issue"
      ? services.filter(onOld)
      : step === "trust" || step === "retire"
        ? services.filter((s) => !s.bundleCurrent || (step === "retire" && onOld(s)))
        : [];
  return { total: services.length, onCurrentBundle: onBundle.length, onNewIntermediate: onNew.length, pending: pending.map((s) => s.service).sort() };
}

/**
 * Whether `serve` should rotate the intermediate by itself: less than `rotateBefore` (a fraction) of its lifetime is
 * left. Pure.
 */
export function intermediateRotationDue(p: { notBefore: Date; notAfter: Date; now: Date; rotateBefore: number }): boolean {
  const life = p.notAfter.getTime() - p.notBefore.getTime();
  const left = p.notAfter.getTime() - p.now.getTime();
  return life > 0 && left < life * p.rotateBefore;
}

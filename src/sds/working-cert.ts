/**
 * The working tier of SDS: short-lived certificates with a fresh key each time, held in memory by `serve` and
 * delivered only inside the mTLS stream. The decisions (lifetime bounds, when one is due) are pure; issuing goes
 * through the CA core.
 */
import { bundlePem, issueLeaf, type Authority, type KeyAlgorithm } from "../ca/index.js";
import { formatDuration, parseDuration } from "../config/duration.js";
import { badInput, printable } from "../errors.js";
import { renewalTime } from "../rotation/renewal-time.js";
import { sha256Hex } from "../rotation/fleet.js";

/** An identity opted in to SDS: what its working certificate carries. */
export interface SdsIdentity {
  spiffeId: string;
  identity: string;
  /** Swarm service name, or the identity in embedded mode. */
  service: string;
  dnsNames: string[];
  keyAlgorithm?: KeyAlgorithm;
}

/** A working certificate as `serve` keeps it (the key never leaves memory but inside an SDS response). */
export interface WorkingCert {
  spiffeId: string;
  chainPem: string;
  keyPem: string;
  serial: string;
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  /** When it is renewed: at 2/3 of its life, moved earlier by jitter. */
  renewAt: Date;
  /** PEM of the intermediate that issued it: a CA rotation makes it due. */
  issuerPem: string;
}

/** The shortest working lifetime an operator may configure. */
export const MIN_WORKING_TTL_SECONDS = 300;
/**
 * TEST ONLY: lowers the minimum working lifetime (seconds, at least 10) so that tests see several rotations in a
 * minute. Never set it in production: a certificate that short expires between two pushes on a loaded host.
 */
export const TEST_ONLY_WORKING_TTL_FLOOR_ENV = "SWARM_MTLS_TEST_ONLY_SDS_MIN_WORKING_TTL";

/** The minimum working lifetime in force: 5 minutes, or the test-only floor when the variable is set. Pure. */
export function workingTtlFloor(env: Record<string, string | undefined>): number {
  const raw = env[TEST_ONLY_WORKING_TTL_FLOOR_ENV];
  if (raw === undefined || raw === "") return MIN_WORKING_TTL_SECONDS;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 10) throw badInput(`${TEST_ONLY_WORKING_TTL_FLOOR_ENV}='${printable(raw)}' must be whole seconds, at least 10`);
  return n;
}

/**
 * The working lifetime from `sds.workingTtl`: at least the floor, below the bootstrap lifetime and within the CA's
 * maximum. Pure; bad input names the setting.
 */
export function workingTtlSeconds(p: { text: string; floorSeconds: number; maxLeafTtlSeconds: number }): number {
  const s = parseDuration(p.text, "sds.workingTtl");
  if (s < p.floorSeconds) throw badInput(`sds.workingTtl: '${printable(p.text)}' is shorter than the minimum of ${formatDuration(p.floorSeconds)}`);
  if (s > p.maxLeafTtlSeconds) throw badInput(`sds.workingTtl: '${printable(p.text)}' is over the CA maximum of ${formatDuration(p.maxLeafTtlSeconds)}`);
  return s;
}

/** Why a working certificate must be (re)issued now, or null. Pure. */
export function workingCertDue(c: WorkingCert | undefined, a: Pick<Authority, "intermediate">, now: Date): "missing" | "due" | "ca-rotated" | null {
  if (!c) return "missing";
  if (c.issuerPem !== a.intermediate.certPem) return "ca-rotated";
  return now >= c.renewAt ? "due" : null;
}

/** The trust bundle as an SDS resource version: a short hash of its PEM. Pure. */
export const bundleVersion = (pem: string): string => sha256Hex(pem).slice(0, 16);

/** Issues one working certificate (fresh key) for an identity. */
export async function issueWorkingCert(a: Authority, id: SdsIdentity, p: { ttlSeconds: number; renewBefore: number; jitter: number; now?: Date }): Promise<WorkingCert> {
  const leaf = await issueLeaf(a, {
    identity: id.identity,
    dnsNames: id.dnsNames,
    uris: [id.spiffeId],
    ttlSeconds: Math.min(p.ttlSeconds, a.maxLeafTtlSeconds),
    // The working tier's own minimum: 5m, or the test-only floor (workingTtlFloor) when that variable is set.
    minTtlSeconds: Math.min(MIN_WORKING_TTL_SECONDS, workingTtlFloor(process.env)),
    ...(id.keyAlgorithm ? { keyAlgorithm: id.keyAlgorithm } : {}),
    ...(p.now ? { now: p.now } : {}),
  });
  // The clock-skew allowance moves notBefore back; renewal counts from the moment of issue so that it really is
  // at 2/3 of the usable life.
  const issuedAt = p.now ?? new Date();
  return {
    spiffeId: id.spiffeId,
    chainPem: leaf.chainPem,
    keyPem: leaf.keyPem as string,
    serial: leaf.serial,
    fingerprint: leaf.fingerprint,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    renewAt: renewalTime({ notBefore: issuedAt, notAfter: leaf.notAfter, renewBefore: p.renewBefore, jitter: p.jitter, seed: leaf.serial }),
    issuerPem: a.intermediate.certPem,
  };
}

export { bundlePem };

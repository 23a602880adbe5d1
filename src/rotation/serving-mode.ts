/**
 * What the serving plane needs from a store mode: swarm mode (services by labels, secrets, rollouts under the lease)
 * or embedded mode (identities from the config, generation directories). The plane translates for HTTP; a mode
 * gathers, plans with the one planner and acts.
 */
import type { Authority } from "../ca/index.js";
import type { CaRotationStatus } from "./ca-rotation.js";
import type { ServiceOutcome } from "./rollout.js";
import type { AllowedIdentity } from "./sign-policy.js";
import type { ServiceStatus } from "./serving-types.js";

export interface ModeRotateParams {
  /** Swarm service names or ids (Docker events); default every managed service. */
  services?: string[];
  /** Identities (the API's rotate of one identity); default every one. */
  identities?: string[];
  force: boolean;
  dryRun: boolean;
  /** Who asked, for the audit trail. */
  trigger: string;
}

export interface ServingMode {
  readonly name: "swarm" | "embedded";
  /** Status rows from a recently gathered fleet (no metrics are touched). */
  rows(a: Authority): Promise<ServiceStatus[]>;
  /** One reconcile (or an API rotate): gather → plan → act. Callers serialise non-dry runs. */
  rotate(a: Authority, p: ModeRotateParams): Promise<ServiceOutcome[]>;
  /** What POST /v1/sign may sign for an identity: the names the CA would give it by itself. */
  allowedIdentity(a: Authority, identity: string): Promise<AllowedIdentity | undefined>;
  /** Why an identity unknown to `allowedIdentity` is unknown, for the refusal. */
  readonly unknownIdentity: string;
  /** The Envoy bootstrap of an identity; MtlsError("not-found") when it has none. */
  envoyBootstrap(a: Authority, identity: string): Promise<string>;
  /** The last or running CA rotation with services done / total; null when none ever ran. */
  caRotation(a: Authority): Promise<CaRotationStatus | null>;
  /** Runs one step of a due or interrupted CA rotation; true when a step ran (the CA state changed). */
  advanceCaRotation(a: Authority, trigger: string): Promise<boolean>;
  /** Throws when the store cannot be reached (readiness). */
  ping(): Promise<void>;
}

/** Reuses a gathered value for `ttlMs` (status, Envoy and sign requests between two rotations); forgotten on demand. */
export function recentValue<T>(p: { ttlMs: number; nowMs: () => number; load: (a: Authority) => Promise<T> }): { get(a: Authority): Promise<T>; forget(): void } {
  let last: { a: Authority; at: number; value: Promise<T> } | null = null;
  return {
    get(a) {
      if (last && last.a === a && p.nowMs() - last.at < p.ttlMs) return last.value;
      const value = p.load(a);
      const entry = { a, at: p.nowMs(), value };
      last = entry;
      value.catch(() => {
        if (last === entry) last = null; // a failed gather is not reused
      });
      return value;
    },
    forget() {
      last = null;
    },
  };
}

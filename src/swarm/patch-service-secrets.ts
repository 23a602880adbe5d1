import type { ContainerSpec, SecretReference, ServiceSpec } from "./docker-types.js";

/** A secret to mount into a service at a target file name. */
export interface SecretAttachment {
  /** Secret id (the engine needs both id and name). */
  secretId: string;
  /** Secret name. */
  secretName: string;
  /** File name under /run/secrets (`File.Name`): the reference with this target is replaced. */
  target: string;
  /** File owner uid; default: the replaced reference's, else "0". */
  uid?: string;
  /** File owner gid; default: the replaced reference's, else "0". */
  gid?: string;
  /** File mode (e.g. 0o400); default: the replaced reference's, else 0o444 (the engine's default). */
  mode?: number;
}

export interface ServiceSecretsPatchParams {
  /** Secrets to mount; each replaces the reference with the same target file name, or is appended. */
  replace: SecretAttachment[];
  /** Other references to drop (e.g. managed secrets of a kind no longer wanted). Default: drop none. */
  remove?: (ref: SecretReference) => boolean;
}

/** Where a reference is mounted (`File.Name`). */
type MountRef = { File?: { Name?: string; UID?: string; GID?: string; Mode?: number; [key: string]: unknown } };
type Attachment = { target: string; uid?: string; gid?: string; mode?: number };

/**
 * Replaces, in order, the references whose target is in `replace`; drops those `remove` selects; appends the rest.
 * Shared by secrets and configs.
 */
export function patchMountRefs<R extends MountRef, A extends Attachment>(
  refs: readonly R[],
  replace: readonly A[],
  remove: ((ref: R) => boolean) | undefined,
  toRef: (a: A, previous: R | undefined) => R,
): R[] {
  const byTarget = new Map(replace.map((a) => [a.target, a]));
  const placed = new Set<string>();
  const out: R[] = [];
  for (const ref of refs) {
    const target = ref.File?.Name;
    const a = target === undefined ? undefined : byTarget.get(target);
    if (a) {
      if (!placed.has(a.target)) out.push(toRef(a, ref));
      placed.add(a.target);
    } else if (!remove?.(ref)) {
      out.push(structuredClone(ref));
    }
  }
  for (const a of replace) {
    if (!placed.has(a.target)) {
      out.push(toRef(a, undefined));
      placed.add(a.target);
    }
  }
  return out;
}

/** The file attributes of a patched reference: explicit values win, then the replaced reference's, then defaults. */
export function mountFile(a: Attachment, previous: MountRef | undefined, name: string): NonNullable<MountRef["File"]> {
  const pf = previous?.File;
  return {
    ...(pf ?? {}),
    Name: name,
    UID: a.uid ?? pf?.UID ?? "0",
    GID: a.gid ?? pf?.GID ?? "0",
    Mode: a.mode ?? pf?.Mode ?? 0o444,
  };
}

/** A deep copy of `spec` whose ContainerSpec is given by `edit`; every other field is left exactly as it was. */
export function withContainerSpec(spec: ServiceSpec, edit: (cs: ContainerSpec) => void): ServiceSpec {
  const next = structuredClone(spec);
  next.TaskTemplate = next.TaskTemplate ?? {};
  next.TaskTemplate.ContainerSpec = next.TaskTemplate.ContainerSpec ?? {};
  edit(next.TaskTemplate.ContainerSpec);
  return next;
}

/**
 * The service spec with its managed secret references swapped: each attachment replaces the reference with the same
 * target file name (keeping its UID/GID/Mode unless the attachment sets them), `remove` drops others, and every other
 * field of the spec stays exactly as read. Idempotent. Pure: `spec` is not modified.
 */
export function patchServiceSecrets(spec: ServiceSpec, p: ServiceSecretsPatchParams): ServiceSpec {
  const current = spec.TaskTemplate?.ContainerSpec?.Secrets ?? [];
  const next = patchMountRefs<SecretReference, SecretAttachment>(current, p.replace, p.remove, (a, prev) => ({
    ...(prev ? structuredClone(prev) : {}),
    File: mountFile(a, prev, a.target),
    SecretID: a.secretId,
    SecretName: a.secretName,
  }));
  return withContainerSpec(spec, (cs) => {
    if (next.length > 0) cs.Secrets = next;
    else if (cs.Secrets !== undefined && current.length > 0) delete cs.Secrets;
  });
}

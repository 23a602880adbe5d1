import { LABEL } from "../../swarm/managed-labels.js";
import { finding, type AuditCheck } from "../finding.js";
import { serviceObject, sh } from "../service-facts.js";

/** Docker's mode for a secret file when the spec gives none. */
export const DOCKER_DEFAULT_SECRET_MODE = 0o444;

/**
 * SEC003: a secret mounted with the "others may read" bit (mode & 0004; Docker's default is 0444). swarm-mtls's own
 * certificate chains and trust bundles (managed kinds `crt` and `bundle`) are public material and are left out.
 */
export const worldReadableSecret: AuditCheck = {
  id: "SEC003",
  title: "secret mounted world-readable",
  severity: "medium",
  why: "Every user in the container (including a compromised low-privilege process) can read a secret mounted with mode 0444, Docker's default. Mount it 0400 and owned by the user the app runs as.",
  run(inv) {
    const byId = new Map(inv.secrets.map((x) => [x.id, x]));
    return inv.services.flatMap((s) =>
      s.secretRefs.flatMap((ref) => {
        const mode = ref.File?.Mode ?? DOCKER_DEFAULT_SECRET_MODE;
        if ((mode & 0o004) === 0 || ref.File === undefined) return [];
        const secret = ref.SecretID ? byId.get(ref.SecretID) : undefined;
        const kind = secret?.labels[LABEL.managed] === "true" ? secret.labels[LABEL.kind] : undefined;
        if (kind === "crt" || kind === "bundle") return [];
        const name = ref.SecretName ?? secret?.name ?? ref.SecretID ?? "?";
        const target = ref.File.Name ?? name;
        const owner = `${ref.File.UID && ref.File.UID !== "0" ? `,uid=${ref.File.UID}` : ""}${ref.File.GID && ref.File.GID !== "0" ? `,gid=${ref.File.GID}` : ""}`;
        return [
          finding(worldReadableSecret, {
            object: serviceObject(s),
            message: `secret ${name} is mounted at ${target} with mode 0${mode.toString(8)} (readable by every user in the container)`,
            fix: `docker service update --secret-rm ${sh(name)} --secret-add ${sh(`source=${name},target=${target},mode=0400${owner}`)} ${sh(s.name)} (add uid=/gid= of the app's user)`,
          }),
        ];
      }),
    );
  },
};

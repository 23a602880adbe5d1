import { finding, type AuditCheck } from "../finding.js";
import { envEntries, PRIVATE_KEY_PEM_RE, secretNameFor, serviceObject, sh } from "../service-facts.js";

/** SEC002: an environment variable whose value holds a PEM private key (whatever its name). */
export const privateKeyInEnvironment: AuditCheck = {
  id: "SEC002",
  title: "private key in an environment variable",
  severity: "critical",
  why: "A private key in the service spec is readable by anyone with API access and is copied into every task's environment; whoever reads it can impersonate the service. Keys belong in Docker secrets mounted 0400.",
  run(inv) {
    return inv.services.flatMap((s) =>
      envEntries(s)
        .filter((e) => PRIVATE_KEY_PEM_RE.test(e.value))
        .map((e) => {
          const { secret, file } = secretNameFor(s.name, e.name);
          return finding(privateKeyInEnvironment, {
            object: serviceObject(s),
            message: `environment variable ${e.name} holds a PEM private key (value not shown)`,
            fix:
              `docker secret create ${sh(secret)} ./${file}.pem && docker service update --env-rm ${sh(e.name)} ` +
              `--secret-add source=${secret},target=${file}.pem,mode=0400 ${sh(s.name)} (then replace the key: it has been exposed)`,
          });
        }),
    );
  },
};

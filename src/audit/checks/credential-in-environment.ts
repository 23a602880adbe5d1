import { finding, type AuditCheck } from "../finding.js";
import { envEntries, PRIVATE_KEY_PEM_RE, secretNameFor, serviceObject, sh } from "../service-facts.js";

/** Variable names that hold credentials: `*_PASSWORD`, `*_PASSWD`, `*_PASS`, `*_TOKEN`, `*_SECRET`, `*_KEY` (and the bare words). */
export const CREDENTIAL_NAME_RE = /(^|_)(PASSWORD|PASSWD|PASS|TOKEN|SECRET|KEY|APIKEY|CREDENTIALS?)$/i;
/** Names that end like a credential but are not one. */
const NOT_A_CREDENTIAL_RE = /(PUBLIC_?KEY|SORT_?KEY|CACHE_?KEY|PARTITION_?KEY|PRIMARY_?KEY|FOREIGN_?KEY|KEY_?ID)$/i;

/**
 * SEC001: an environment variable named like a credential with a non-empty value that is not a path under
 * /run/secrets. Only the variable's name is ever reported.
 */
export const credentialInEnvironment: AuditCheck = {
  id: "SEC001",
  title: "credential in an environment variable",
  severity: "high",
  why: "Environment variables are readable by anyone who can inspect the service (docker service inspect, the API, logs of crashing apps, child processes). A Docker secret is encrypted in the Raft log and only mounted into the tasks that need it.",
  run(inv) {
    return inv.services.flatMap((s) =>
      envEntries(s)
        .filter((e) => CREDENTIAL_NAME_RE.test(e.name) && !NOT_A_CREDENTIAL_RE.test(e.name))
        .filter((e) => e.value.trim() !== "" && !e.value.startsWith("/run/secrets/") && !PRIVATE_KEY_PEM_RE.test(e.value))
        .map((e) => {
          const { secret, file } = secretNameFor(s.name, e.name);
          return finding(credentialInEnvironment, {
            object: serviceObject(s),
            message: `environment variable ${e.name} looks like a credential (value not shown)`,
            fix:
              `docker secret create ${sh(secret)} ./${file}.txt && docker service update --env-rm ${sh(e.name)} ` +
              `--secret-add source=${secret},target=${file},mode=0400 --env-add ${sh(`${e.name}_FILE=/run/secrets/${file}`)} ${sh(s.name)} ` +
              `(if the image reads ${e.name}_FILE; else make the app read /run/secrets/${file})`,
          });
        }),
    );
  },
};

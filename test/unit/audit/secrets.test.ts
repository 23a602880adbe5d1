import t from "tap";
import { credentialInEnvironment } from "../../../src/audit/checks/credential-in-environment.js";
import { privateKeyInEnvironment } from "../../../src/audit/checks/private-key-in-environment.js";
import { worldReadableSecret } from "../../../src/audit/checks/world-readable-secret.js";
import { runAudit } from "../../../src/audit/run-audit.js";
import { auditContext, capturedInventory, editedService } from "../../fixtures/audit/load-audit-fixture.js";

const ctx = auditContext();
const PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB6sVERYSECRETKEYMATERIAL\n-----END EC PRIVATE KEY-----";

function withEnv(env: string[]) {
  const inv = capturedInventory();
  inv.services = [editedService(inv, "aud-clean", (spec) => void (spec.TaskTemplate!.ContainerSpec!.Env = env), "envsvc")];
  return inv;
}

t.test("SEC001: DB_PASSWORD in aud-postgres's env; the _FILE variable and POSTGRES_USER are fine", async (t) => {
  const [f, ...rest] = credentialInEnvironment.run(capturedInventory(), ctx);
  t.same(rest, []);
  t.equal(f!.severity, "high");
  t.equal(f!.message, "environment variable DB_PASSWORD looks like a credential (value not shown)");
  t.equal(
    f!.fix,
    "docker secret create aud-postgres-db-password ./db_password.txt && docker service update --env-rm DB_PASSWORD " +
      "--secret-add source=aud-postgres-db-password,target=db_password,mode=0400 --env-add DB_PASSWORD_FILE=/run/secrets/db_password aud-postgres " +
      "(if the image reads DB_PASSWORD_FILE; else make the app read /run/secrets/db_password)",
  );
});

t.test("SEC001: the issue's name patterns, with a value; never the value in the output", async (t) => {
  const env = ["API_TOKEN=tok-123", "AWS_SECRET_ACCESS_KEY=abc", "JWT_SECRET=s3cr3t", "PASSWORD=hunter2", "REDIS_PASS=x", "STRIPE_KEY=sk_live"];
  const found = credentialInEnvironment.run(withEnv(env), ctx);
  t.same(found.map((f) => f.message.split(" ")[2]), ["API_TOKEN", "AWS_SECRET_ACCESS_KEY", "JWT_SECRET", "PASSWORD", "REDIS_PASS", "STRIPE_KEY"]);
  const text = JSON.stringify(found);
  for (const v of ["tok-123", "hunter2", "s3cr3t", "sk_live"]) t.notMatch(text, v);
});

t.test("SEC001: not credentials: empty values, /run/secrets paths, *_FILE, public keys, ordinary names", async (t) => {
  const env = ["DB_PASSWORD=", "DB_PASSWORD_FILE=/run/secrets/db", "DB_PASSWORD2=x", "API_TOKEN=/run/secrets/token", "JWT_PUBLIC_KEY=abc", "SORT_KEY=name", "AWS_ACCESS_KEY_ID=AKIA", "PWD=/app", "LOG_LEVEL=info", "KEYCLOAK_URL=http://kc", "PASSWORD_MIN_LENGTH=12"];
  t.same(credentialInEnvironment.run(withEnv(env), ctx), []);
});

t.test("SEC002: a PEM private key in any variable is critical and reported once (not also as SEC001)", async (t) => {
  const inv = withEnv([`TLS_KEY=${PEM}`, `BLOB=${PEM}`, "CERT=-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"]);
  const found = runAudit(inv, ctx).filter((f) => f.id === "SEC001" || f.id === "SEC002");
  t.same(found.map((f) => `${f.severity} ${f.id} ${f.message}`), [
    "critical SEC002 environment variable BLOB holds a PEM private key (value not shown)",
    "critical SEC002 environment variable TLS_KEY holds a PEM private key (value not shown)",
  ]);
  t.notMatch(JSON.stringify(found), "SECRETKEYMATERIAL");
  t.match(found[1]!.fix, /--secret-add source=envsvc-tls-key,target=tls_key.pem,mode=0400 envsvc \(then replace the key: it has been exposed\)$/);
});

t.test("SEC002: every PEM private-key flavour", async (t) => {
  for (const kind of ["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "]) {
    t.equal(privateKeyInEnvironment.run(withEnv([`K=-----BEGIN ${kind}PRIVATE KEY-----\nAAAA`]), ctx).length, 1, kind || "PKCS#8");
  }
});

t.test("SEC003: aud-postgres mounts its password at Docker's default 0444; managed certs, bundles and 0400 mounts are fine", async (t) => {
  const found = worldReadableSecret.run(capturedInventory(), ctx);
  t.same(found.map((f) => `${f.object.name}: ${f.message}`), ["aud-postgres: secret aud-db-password is mounted at db with mode 0444 (readable by every user in the container)"]);
  t.equal(found[0]!.fix, "docker service update --secret-rm aud-db-password --secret-add source=aud-db-password,target=db,mode=0400 aud-postgres (add uid=/gid= of the app's user)");
});

t.test("SEC003: a managed key mounted 0444 is flagged; the owner is kept in the fix", async (t) => {
  const inv = capturedInventory();
  inv.services = [
    editedService(inv, "aud-api", (spec) => {
      for (const ref of spec.TaskTemplate!.ContainerSpec!.Secrets!) if (ref.File?.Name === "tls.key") ref.File = { ...ref.File, Mode: 0o644, UID: "101", GID: "101" };
    }),
  ];
  const [f, ...rest] = worldReadableSecret.run(inv, ctx);
  t.same(rest, []);
  t.equal(f!.message, "secret mtls.aud-api.key.v1 is mounted at tls.key with mode 0644 (readable by every user in the container)");
  t.match(f!.fix, "source=mtls.aud-api.key.v1,target=tls.key,mode=0400,uid=101,gid=101");
});

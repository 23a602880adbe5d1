import t from "tap";
import { certificateExpiresBeforeCheck } from "../../../src/audit/checks/certificate-expires-before-check.js";
import { managedServiceWithoutCertificate } from "../../../src/audit/checks/managed-service-without-certificate.js";
import { publishedWithoutMtls } from "../../../src/audit/checks/published-without-mtls.js";
import { auditContext, capturedInventory, editedService } from "../../fixtures/audit/load-audit-fixture.js";

// The captured certificate of aud-api: valid 2030-01-01T00:00Z → 2030-01-02T00:00Z.
const at = (iso: string, nextInMinutes = 5) => {
  const now = new Date(iso);
  return auditContext({ now, nextCheckAt: new Date(now.getTime() + nextInMinutes * 60_000) });
};

t.test("CRT001: nothing while the certificate outlives the next check", async (t) => {
  t.same(certificateExpiresBeforeCheck.run(capturedInventory(), at("2030-01-01T12:00:00Z")), []);
  t.same(certificateExpiresBeforeCheck.run(capturedInventory(), at("2030-01-01T23:54:59Z")), [], "expires 5m01s later, the check is in 5m");
});

t.test("CRT001: high when it runs out before the next scheduled check", async (t) => {
  const [f, ...rest] = certificateExpiresBeforeCheck.run(capturedInventory(), at("2030-01-01T23:57:00Z"));
  t.same(rest, []);
  t.equal(f!.severity, "high");
  t.same(f!.object, { kind: "service", name: "aud-api" });
  t.equal(f!.message, "certificate mtls.aud-api.crt.v1 expires at 2030-01-02T00:00:00.000Z (in 3m), before the next scheduled check at 2030-01-02T00:02:00.000Z");
  t.equal(f!.fix, "swarm-mtls rotate aud-api --force");
});

t.test("CRT001: critical once expired", async (t) => {
  const [f] = certificateExpiresBeforeCheck.run(capturedInventory(), at("2030-01-02T00:00:00Z"));
  t.equal(f!.severity, "critical");
  t.equal(f!.message, "certificate mtls.aud-api.crt.v1 expired at 2030-01-02T00:00:00.000Z");
});

t.test("CRT001 honours the label prefix: with another prefix aud-api is not managed", async (t) => {
  t.same(certificateExpiresBeforeCheck.run(capturedInventory(), auditContext({ now: new Date("2030-01-03T00:00:00Z"), labelPrefix: "tls." })), []);
});

t.test("CRT002: an opted-in service without a certificate", async (t) => {
  const inv = capturedInventory();
  t.same(managedServiceWithoutCertificate.run(inv, auditContext()), [], "aud-api has one");
  inv.services.push(editedService(inv, "aud-clean", (spec) => void (spec.Labels = { "audfx.enable": "true" }), "newcomer"));
  const [f] = managedServiceWithoutCertificate.run(inv, auditContext());
  t.equal(`${f!.severity} ${f!.object.name} ${f!.message}`, "low newcomer labelled audfx.enable=true but no swarm-mtls certificate is mounted");
  t.equal(f!.fix, "swarm-mtls rotate newcomer (swarm-mtls status shows why it failed)");
});

t.test("CRT003: services that publish ports without mTLS (info); not opted-in ones that don't publish, not swarm-mtls itself", async (t) => {
  const inv = capturedInventory();
  inv.services.push(
    editedService(inv, "aud-web", (spec) => void (spec.TaskTemplate!.ContainerSpec!.Image = "swarm-mtls/ca:local"), "mtls_ca"),
  );
  const found = publishedWithoutMtls.run(inv, auditContext());
  t.same(found.map((f) => `${f.severity} ${f.object.name} ${f.message}`), ["info aud-web publishes 18090:8080 and is not opted in to mTLS"]);
  t.equal(found[0]!.fix, "docker service update --label-add audfx.enable=true --label-add audfx.envoy=true aud-web && swarm-mtls rotate aud-web (if its callers are services, not browsers)");
});

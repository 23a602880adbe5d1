/**
 * In-memory ControlPlane for the HTTP layer's unit tests: records every call so tests can assert that rejected
 * requests changed nothing. Run directly (tap runs it as a file of its own), it checks that it honours the contract.
 */
import { pathToFileURL } from "node:url";
import { MtlsError, type ErrorCode } from "../../../src/errors.js";
import type { CaCertificateInfo } from "../../../src/ca/types.js";
import type { ControlPlane, RotateRequest, RotationOutcome, ServiceStatus, SignCsrInput } from "../../../src/api/control-plane.js";

export const BUNDLE_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakebundle\n-----END CERTIFICATE-----\n";
export const BOOTSTRAP_YAML = "node:\n  id: api\n  cluster: stack_api\nstatic_resources:\n  listeners: []\n";

export const SERVICES: ServiceStatus[] = [
  {
    identity: "stack_api", service: "stack_api", generation: 3, serial: "0a1b2c", notAfter: "2030-01-02T03:04:05.000Z",
    secondsLeft: 3600, nextRotation: "2030-01-01T19:04:05.000Z", issuer: "ab".repeat(32), state: "ok",
  },
  {
    identity: "stack_db", service: "stack_db", generation: 0, serial: null, notAfter: null, secondsLeft: null,
    nextRotation: null, issuer: null, state: "missing", reason: "nothing issued yet",
  },
];

export const CA_INFO: CaCertificateInfo[] = [
  {
    role: "root", subject: "CN=swarm-mtls root", issuer: "CN=swarm-mtls root", serial: "01", fingerprint: "cd".repeat(32),
    notBefore: new Date("2025-01-01T00:00:00Z"), notAfter: new Date("2035-01-01T00:00:00Z"), keyAlgorithm: "ecdsa-p384",
    keyOnline: false, pem: BUNDLE_PEM,
  },
];

export interface FakeCall {
  method: keyof ControlPlane;
  args: unknown[];
}

export class FakeControlPlane implements ControlPlane {
  calls: FakeCall[] = [];
  readiness: { ready: boolean; reason?: string; code?: ErrorCode } = { ready: true };
  /** When set, every method rejects with it (to test error mapping). */
  failWith: unknown = null;

  private async record<T>(method: keyof ControlPlane, args: unknown[], value: () => T): Promise<T> {
    this.calls.push({ method, args });
    if (this.failWith !== null) throw this.failWith;
    return value();
  }
  /** Calls that change something or hand out a certificate. */
  mutatingCalls(): FakeCall[] {
    return this.calls.filter((c) => c.method === "rotate" || c.method === "signCsr");
  }
  ready() {
    return this.record("ready", [], () => this.readiness);
  }
  bundlePem() {
    return this.record("bundlePem", [], () => BUNDLE_PEM);
  }
  caInfo() {
    return this.record("caInfo", [], () => CA_INFO);
  }
  listServices() {
    return this.record("listServices", [], () => SERVICES);
  }
  getService(identity: string) {
    return this.record("getService", [identity], () => {
      const s = SERVICES.find((x) => x.identity === identity);
      if (!s) throw new MtlsError("not-found", `no opted-in service has identity ${identity}`);
      return s;
    });
  }
  rotate(identity: string | null, req: RotateRequest, actor: string) {
    return this.record("rotate", [identity, req, actor], () => {
      const targets = identity === null ? SERVICES : SERVICES.filter((s) => s.identity === identity);
      if (targets.length === 0) throw new MtlsError("not-found", `no opted-in service has identity ${identity}`);
      return targets.map((s): RotationOutcome => ({
        identity: s.identity, service: s.service,
        action: req.dryRun ? "planned" : "rotated",
        reason: req.force ? "forced" : "due",
        generationBefore: s.generation, generationAfter: req.dryRun ? s.generation : s.generation + 1,
      }));
    });
  }
  envoyBootstrap(identity: string) {
    return this.record("envoyBootstrap", [identity], () => {
      if (identity !== "stack_api") throw new MtlsError("not-found", `identity ${identity} has no envoy sidecar`);
      return BOOTSTRAP_YAML;
    });
  }
  signCsr(p: SignCsrInput, actor: string) {
    return this.record("signCsr", [p, actor], () => {
      if (p.ttlSeconds !== undefined && p.ttlSeconds > 7 * 86400) throw new MtlsError("bad-input", "ttl exceeds the CA maximum of 7d");
      return { chainPem: "-----BEGIN CERTIFICATE-----\nMIIleaf\n-----END CERTIFICATE-----\n", serial: "0f", notAfter: "2030-01-01T00:00:00.000Z", bundlePem: BUNDLE_PEM };
    });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { default: t } = await import("tap");
  t.test("the fake honours the ControlPlane contract", async (t) => {
    const cp = new FakeControlPlane();
    await t.rejects(cp.getService("nope"), { code: "not-found" });
    await t.rejects(cp.envoyBootstrap("stack_db"), { code: "not-found" });
    t.equal((await cp.rotate(null, { dryRun: true }, "token")).length, SERVICES.length);
    t.same(cp.mutatingCalls().map((c) => c.method), ["rotate"]);
  });
}

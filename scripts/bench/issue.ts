/**
 * Leaf issuance throughput, per key algorithm, on one core: key generation + signing + PEM, for ~2 s (or a cap)
 * each. In the same run, the openssl CLI pipeline (genpkey + req + x509 -req, signed by an intermediate of the
 * same kind written to a temp dir) is the baseline, and the @peculiar/x509 reference path shows what the fast path
 * saves. Run: npm run bench:issue   (or: npm run build && node dist/scripts/bench/issue.js)
 * Options: --seconds <n> (default 2), --algorithms ecdsa-p256,ed25519 (default all), --no-openssl.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createAuthority,
  generateLeafKeySync,
  issueLeaf,
  issueLeafReference,
  issueLeafSync,
  KEY_ALGORITHMS,
  parseKeyAlgorithm,
  planLeaf,
  randomSerial,
  type Authority,
  type KeyAlgorithm,
} from "../../src/ca/index.js";
import { arg, printTable } from "./bench-kit.js";

interface Measurement {
  count: number;
  seconds: number;
}

const perSecond = (m: Measurement): number => m.count / m.seconds;
const msPer = (m: Measurement): number => (m.seconds * 1000) / m.count;

async function measure(seconds: number, cap: number, once: () => unknown): Promise<Measurement> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let count = 0;
  let now = start;
  while (count < cap && now < deadline) {
    await once();
    count++;
    now = process.hrtime.bigint();
  }
  return { count, seconds: Number(now - start) / 1e9 };
}

const OPENSSL_GENPKEY: Record<KeyAlgorithm, string[]> = {
  "ecdsa-p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ecdsa-p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
  ed25519: ["-algorithm", "ED25519"],
  "rsa-2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
  "rsa-3072": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
};

function openssl(args: string[]): void {
  const r = spawnSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString().trim()}`);
}

/** The openssl CLI pipeline for one leaf, signed by the authority's intermediate (written to a private temp dir). */
async function measureOpenssl(a: Authority, alg: KeyAlgorithm, seconds: number, cap: number): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), "swarm-mtls-bench-"));
  try {
    const key = a.intermediate.privateKey;
    if (key === undefined) throw new Error("no intermediate key");
    writeFileSync(join(dir, "int.pem"), a.intermediate.certPem);
    writeFileSync(join(dir, "int.key"), key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    writeFileSync(
      join(dir, "ext.cnf"),
      [
        "[v3]",
        "basicConstraints = critical, CA:FALSE",
        `keyUsage = critical, digitalSignature${alg.startsWith("rsa") ? ", keyEncipherment" : ""}`,
        "extendedKeyUsage = serverAuth, clientAuth",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
        "subjectAltName = DNS:api, DNS:tasks.api, URI:spiffe://example.org/swarm/shop/api",
        "",
      ].join("\n"),
    );
    const f = (n: string): string => join(dir, n);
    return await measure(seconds, cap, () => {
      openssl(["genpkey", ...OPENSSL_GENPKEY[alg], "-out", f("leaf.key")]);
      openssl(["req", "-new", "-key", f("leaf.key"), "-subj", "/CN=shop_api", "-out", f("leaf.csr")]);
      openssl([
        "x509", "-req", "-in", f("leaf.csr"), "-CA", f("int.pem"), "-CAkey", f("int.key"), "-set_serial",
        `0x${randomSerial().toString("hex")}`, "-days", "1", "-extfile", f("ext.cnf"), "-extensions", "v3", "-out", f("leaf.crt"),
      ]);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const seconds = Number(arg("--seconds") ?? 2);
  const algorithms = (arg("--algorithms")?.split(",") ?? [...KEY_ALGORITHMS]).map(parseKeyAlgorithm);
  const withOpenssl = !process.argv.includes("--no-openssl");
  const request = {
    identity: "shop_api",
    dnsNames: ["api", "tasks.api"],
    spiffeId: "spiffe://example.org/swarm/shop/api",
  };
  const rows: string[][] = [];
  const header = ["algorithm", "path", "certs", "certs/s", "ms/cert", "vs openssl"];
  console.log(`leaf issuance on one core, ~${seconds}s per row (key generation + signing + PEM); node ${process.version}`);
  for (const alg of algorithms) {
    const { authority } = await createAuthority({ trustDomain: "example.org", keyAlgorithm: alg });
    const rsa = alg.startsWith("rsa");
    // Warm-up: JIT, issuer template.
    for (let i = 0; i < (rsa ? 2 : 200); i++) issueLeafSync(authority, request);
    const fast = await measure(seconds, rsa ? 200 : 100_000, () => issueLeafSync(authority, request));
    const asyncFast = await measure(seconds / 2, rsa ? 100 : 50_000, () => issueLeaf(authority, request));
    const plan = planLeaf(authority, request);
    const reference = await measure(seconds / 2, rsa ? 100 : 20_000, async () => {
      const key = generateLeafKeySync(alg);
      await issueLeafReference(authority, { plan, spkiDer: key.spkiDer, serial: randomSerial() });
    });
    const baseline = withOpenssl ? await measureOpenssl(authority, alg, seconds, rsa ? 20 : 40) : undefined;
    const vs = (m: Measurement): string => (baseline ? `${(perSecond(m) / perSecond(baseline)).toFixed(1)}x` : "-");
    const row = (path: string, m: Measurement): string[] => [
      alg, path, String(m.count), perSecond(m).toFixed(1), msPer(m).toFixed(3), vs(m),
    ];
    rows.push(row("issueLeafSync (fast path)", fast));
    rows.push(row("issueLeaf (async keygen)", asyncFast));
    rows.push(row("@peculiar/x509 reference", reference));
    if (baseline) rows.push(row("openssl CLI pipeline", baseline));
    console.error(`  ${alg}: ${perSecond(fast).toFixed(0)} certs/s`);
  }
  printTable(header, rows, 2);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

/** CSRs made with the openssl CLI (as an operator would), for the sign policy tests. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** A P-256 CSR with subject CN=`cn` and the given `-addext` extensions (e.g. `subjectAltName=DNS:a`). */
export function opensslCsr(cn: string, addext: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "csr-"));
  try {
    execFileSync("openssl", [
      "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${cn}`,
      "-keyout", join(dir, "k.pem"), "-out", join(dir, "csr.pem"), ...addext.flatMap((e) => ["-addext", e]),
    ], { stdio: "ignore" });
    return readFileSync(join(dir, "csr.pem"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { default: t } = await import("tap");
  t.test("opensslCsr makes a PEM CSR with the requested extensions", async (t) => {
    const csr = opensslCsr("api", ["subjectAltName=DNS:api.example.org"]);
    t.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----/);
    const text = execFileSync("openssl", ["req", "-noout", "-text"], { input: csr }).toString();
    t.match(text, "DNS:api.example.org");
  });
}

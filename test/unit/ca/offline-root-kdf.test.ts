/**
 * The offline root key file is encrypted with scrypt (PBES2), not PBKDF2 with OpenSSL's default 2,048 iterations:
 * openssl names the KDF and opens the file with the passphrase, Node opens it too, a wrong passphrase does not, and a
 * file written the old way (PBKDF2) still opens.
 */
import "reflect-metadata";
import { execFileSync, spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { createAuthority } from "../../../src/ca/index.js";

const passphrase = "correct horse battery staple";

t.test("offline root key: PBES2 with scrypt, readable by openssl and Node", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "root-kdf-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { authority, offlineRootKeyPem } = await createAuthority({ trustDomain: "example.org", offlineRoot: { passphrase } });
  writeFileSync(join(dir, "root.key"), offlineRootKeyPem!, { mode: 0o600 });
  writeFileSync(join(dir, "pass"), `${passphrase}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "wrong"), "wrong passphrase\n", { mode: 0o600 });
  const parsed = execFileSync("openssl", ["asn1parse", "-in", join(dir, "root.key")], { encoding: "utf8" });
  t.match(parsed, /:PBES2/, "PBES2");
  t.match(parsed, /:scrypt\s*$/m, "the key derivation is scrypt");
  t.notMatch(parsed, /:PBKDF2/, "not PBKDF2");
  const rootSpki = Buffer.from(authority.roots[0]!.cert.publicKey.rawData);
  const pub = execFileSync("openssl", ["pkey", "-in", join(dir, "root.key"), "-passin", `file:${join(dir, "pass")}`, "-pubout"], { encoding: "utf8" });
  t.ok(createPublicKey(pub).export({ type: "spki", format: "der" }).equals(rootSpki), "openssl opens it: the root's key");
  const key = createPrivateKey({ key: offlineRootKeyPem!, passphrase });
  t.ok(createPublicKey(key).export({ type: "spki", format: "der" }).equals(rootSpki), "Node opens it too");
  t.not(spawnSync("openssl", ["pkey", "-in", join(dir, "root.key"), "-passin", `file:${join(dir, "wrong")}`, "-noout"]).status, 0, "a wrong passphrase does not");
  const old = key.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase }) as string;
  t.match(execFileSync("openssl", ["asn1parse"], { input: old, encoding: "utf8" }), /:PBKDF2/, "(a file the way earlier versions wrote it)");
  t.ok(createPublicKey(createPrivateKey({ key: old, passphrase })).export({ type: "spki", format: "der" }).equals(rootSpki), "old PBKDF2 files still open");
});

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lines, sandbox } from "./fixtures/cli-sandbox.js";

/** `init --offline-root FILE` never replaces a FILE that exists (it may be another CA's only root key) without --force. */
t.test("init --offline-root over an existing file: exit 2, one line, the file and the store untouched", async (t) => {
  const s = sandbox(t);
  const keyFile = join(s.dir, "root.key.pem");
  const passFile = join(s.dir, "pass.txt");
  writeFileSync(passFile, "correct horse battery staple\n");
  const precious = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nanother CA's root key\n-----END ENCRYPTED PRIVATE KEY-----\n";
  writeFileSync(keyFile, precious, { mode: 0o400 });

  const r = await s.run(["init", "--trust-domain", "example.org", "--offline-root", keyFile, "--root-passphrase-file", passFile]);
  t.equal(r.code, 2, "exit 2");
  t.equal(r.stdout, "", "nothing on stdout");
  t.equal(lines(r.stderr).length, 1, "one line on stderr");
  t.match(r.stderr, keyFile, "names the file");
  t.match(r.stderr, /exists/, "says it exists");
  t.match(r.stderr, /--force/, "names --force");
  t.equal(readFileSync(keyFile, "utf8"), precious, "the existing file is unchanged");
  t.notOk(existsSync(s.stateFile), "no CA state");
  t.notOk(existsSync(s.kekFile), "no key-encryption key");

  const dirAsFile = join(s.dir, "a-directory");
  mkdirSync(dirAsFile);
  const d = await s.run(["init", "--trust-domain", "example.org", "--force", "--offline-root", dirAsFile, "--root-passphrase-file", passFile]);
  t.equal(d.code, 2, "a directory: exit 2 even with --force");
  t.match(d.stderr, /not a regular file/);
  t.notOk(existsSync(s.stateFile), "no CA state");

  const forced = await s.run(["init", "--trust-domain", "example.org", "--force", "--offline-root", keyFile, "--root-passphrase-file", passFile]);
  t.equal(forced.code, 0, `--force: exit 0 ${forced.stderr}`);
  t.match(readFileSync(keyFile, "utf8"), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n(?!another)/, "--force: the file now holds the new root key");
});

t.test("init --offline-root when storing the CA fails: no root key file, no temporary file, the old file kept", async (t) => {
  const s = sandbox(t);
  const passFile = join(s.dir, "pass.txt");
  writeFileSync(passFile, "correct horse battery staple\n");
  // ca-state.json as a non-empty directory: the store cannot write the state (rename over a directory fails).
  mkdirSync(join(s.data, "ca-state.json", "x"), { recursive: true });
  const keys = join(s.dir, "keys");
  mkdirSync(keys);

  const fresh = join(keys, "root.key.pem");
  const r = await s.run(["init", "--trust-domain", "example.org", "--force", "--offline-root", fresh, "--root-passphrase-file", passFile]);
  t.not(r.code, 0, "init fails");
  t.equal(lines(r.stderr).length, 1, `one line on stderr (${r.stderr.trim()})`);
  t.same(readdirSync(keys), [], "no root key file and no temporary file next to it");

  const old = join(keys, "old.key.pem");
  writeFileSync(old, "old root key\n", { mode: 0o400 });
  const r2 = await s.run(["init", "--trust-domain", "example.org", "--force", "--offline-root", old, "--root-passphrase-file", passFile]);
  t.not(r2.code, 0, "init --force fails");
  t.equal(readFileSync(old, "utf8"), "old root key\n", "the existing file is unchanged: it is replaced only once the CA is stored");
  t.same(readdirSync(keys), ["old.key.pem"], "no temporary file left");
});

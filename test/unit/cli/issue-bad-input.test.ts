import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lines, listFiles, sandbox } from "./fixtures/cli-sandbox.js";

/**
 * Bad input to `issue`: exit code 2, ONE line on stderr that says why, nothing on stdout, and nothing written to OUT
 * (nor anywhere else in the working directory).
 */
t.test("issue with bad input: exit 2, one line, nothing written", async (t) => {
  const s = sandbox(t);
  await s.init();
  const stateBefore = readFileSync(s.stateFile);
  const otherKek = join(s.dir, "other.kek");
  writeFileSync(otherKek, `${randomBytes(32).toString("base64")}\n`);
  const shortKek = join(s.dir, "short.kek");
  writeFileSync(shortKek, `${randomBytes(16).toString("base64")}\n`);
  const notBase64Kek = join(s.dir, "text.kek");
  writeFileSync(notBase64Kek, "this is not a key at all, not even close\n");
  s.secretFiles.push(otherKek, shortKek);
  const filesBefore = listFiles(s.dir).sort();

  const cases: { name: string; args: string[]; says: RegExp[] }[] = [
    {
      name: "unknown key algorithm",
      args: ["web", "--key-alg", "foo"],
      says: [/'foo'/, /ecdsa-p256/, /ecdsa-p384/, /ed25519/, /rsa-2048/, /rsa-3072/],
    },
    { name: "TTL over the CA maximum", args: ["web", "--ttl", "30d"], says: [/30d/, /maximum/, /7d/] },
    { name: "TTL that is no duration", args: ["web", "--ttl", "abc"], says: [/--ttl/, /'abc'/] },
    { name: "zero TTL", args: ["web", "--ttl", "0m"], says: [/--ttl/, /0m/] },
    { name: "invalid identity", args: ["Web!"], says: [/identity/, /Web!/] },
    { name: "identity with a slash", args: ["../web"], says: [/identity/, /\.\.\/web/] },
    { name: "wildcard DNS name", args: ["web", "--dns", "*.x"], says: [/DNS name/, /\*\.x/] },
    { name: "DNS name with a blank inside", args: ["web", "--dns", "a b"], says: [/DNS name/, /'a b'/] },
    { name: "DNS name with a bad label", args: ["web", "--dns", "web.local,-bad.x"], says: [/DNS name/, /-bad\.x/] },
    { name: "URI SAN that is no URI", args: ["web", "--uri", "not a uri"], says: [/--uri/, /not a uri/] },
    { name: "URI SAN with a scheme not allowed", args: ["web", "--uri", "ftp://x"], says: [/--uri/, /ftp:\/\/x/] },
    { name: "uid that is no number", args: ["web", "--uid", "root"], says: [/--uid/] },
    { name: "missing KEK file", args: ["web", "--kek-file", "/nope"], says: [/key-encryption key/, /\/nope/] },
    { name: "wrong KEK (another 32-byte key)", args: ["web", "--kek-file", otherKek], says: [/key-encryption key/] },
    { name: "KEK file of 16 bytes", args: ["web", "--kek-file", shortKek], says: [/key-encryption key/, /32 bytes/] },
    { name: "KEK file that is not base64", args: ["web", "--kek-file", notBase64Kek], says: [/key-encryption key/] },
    { name: "unknown option", args: ["web", "--bogus"], says: [/--bogus/] },
  ];
  for (const c of cases) {
    const out = join(s.dir, `out-${c.name.replace(/\W+/g, "-")}`);
    const r = await s.run(["issue", ...c.args, "--out", out]);
    t.equal(r.code, 2, `${c.name}: exit 2`);
    t.equal(r.stdout, "", `${c.name}: nothing on stdout`);
    t.equal(lines(r.stderr).length, 1, `${c.name}: one line on stderr`);
    t.ok(r.stderr.endsWith("\n") && r.stderr.split("\n").length === 2, `${c.name}: exactly one line (${JSON.stringify(r.stderr)})`);
    for (const re of c.says) t.match(r.stderr, re, `${c.name}: the line says ${re}`);
    t.same(listFiles(out), [], `${c.name}: nothing written to OUT`);
  }

  const noOut = await s.run(["issue", "web", "--dns", "web.local"]);
  t.equal(noOut.code, 2, "missing --out: exit 2");
  t.equal(lines(noOut.stderr).length, 1, "missing --out: one line on stderr");
  t.match(noOut.stderr, /--out/, "missing --out: names --out");

  const noValue = await s.run(["issue", "web", "--out", join(s.dir, "out-no-value"), "--ttl"]);
  t.equal(noValue.code, 2, "option without its value: exit 2");
  t.equal(lines(noValue.stderr).length, 1, "option without its value: one line on stderr");
  t.match(noValue.stderr, /--ttl.*missing/, "option without its value: names the option");

  const noIdentity = await s.run(["issue", "--out", join(s.dir, "out-x")]);
  t.equal(noIdentity.code, 2, "missing identity: exit 2");
  t.equal(lines(noIdentity.stderr).length, 1, "missing identity: one line on stderr");
  t.match(noIdentity.stderr, /identity/, "missing identity: says so");

  t.same(listFiles(s.dir).sort(), filesBefore, "no command above wrote any file");
  t.ok(readFileSync(s.stateFile).equals(stateBefore), "the CA state is untouched");
});

t.test("issue before init: exit 2, the line says to run init", async (t) => {
  const s = sandbox(t);
  const out = join(s.dir, "out");
  const r = await s.run(["issue", "web", "--out", out]);
  t.equal(r.code, 2);
  t.equal(r.stdout, "");
  t.equal(lines(r.stderr).length, 1, "one line on stderr");
  t.match(r.stderr, /`node \S*main\.js init --trust-domain example\.org --store file:\S+`/, "says to run init, as this CLI is run");
  t.same(listFiles(s.dir), [], "nothing written (no store, no KEK, no OUT)");
});

t.test("issue with the CA state damaged: exit 2 or 1 with one line, nothing written, no key material", async (t) => {
  const s = sandbox(t);
  await s.init();
  writeFileSync(s.stateFile, "{ not json");
  const out = join(s.dir, "out");
  const r = await s.run(["issue", "web", "--out", out]);
  t.not(r.code, 0, "fails");
  t.equal(lines(r.stderr).length, 1, `one line on stderr (${r.stderr})`);
  t.same(listFiles(out), [], "nothing written to OUT");
});

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lines, listFiles, sandbox } from "./fixtures/cli-sandbox.js";

/** Bad --out, --uid, --dns, --uri and --ttl values: exit 2, one line, nothing written anywhere. */
t.test("issue: bad OUT, ids, names and lifetimes are refused before anything is written", async (t) => {
  const s = sandbox(t);
  await s.init();
  const aFile = join(s.dir, "a-file");
  writeFileSync(aFile, "not a directory\n");
  const filesBefore = listFiles(s.dir).sort();

  const cases: { name: string; args: string[]; out?: string; says: RegExp[] }[] = [
    { name: "--out is an existing file", args: ["web"], out: aFile, says: [/--out/, /a-file/, /not a directory/] },
    { name: "--out under a file", args: ["web"], out: join(aFile, "sub"), says: [/--out/, /not a directory/] },
    { name: "--out in /proc", args: ["web"], out: "/proc/nope", says: [/--out/, /\/proc\/nope/] },
    { name: "--uid over 32 bits", args: ["web", "--uid", "4294967296"], says: [/--uid/, /4294967296/, /4294967294/] },
    { name: "--gid negative", args: ["web", "--gid", "-1"], says: [/--gid/] },
    { name: "--uid with a fraction", args: ["web", "--uid", "1.5"], says: [/--uid/] },
    { name: "--dns with an empty entry", args: ["web", "--dns", "a,,b"], says: [/--dns/, /'a,,b'/, /empty/] },
    { name: "--dns empty", args: ["web", "--dns", ""], says: [/--dns/, /empty/] },
    { name: "--dns with a trailing comma", args: ["web", "--dns", "a,"], says: [/--dns/, /empty/] },
    { name: "--ttl under the minimum", args: ["web", "--ttl", "1m"], says: [/--ttl/, /'1m'/, /minimum of 5m/] },
    { name: "a second SPIFFE ID", args: ["web", "--uri", "spiffe://example.org/other"], says: [/--uri/, /second SPIFFE ID/, /spiffe:\/\/example\.org\/id\/web/] },
    { name: "a SPIFFE ID of another trust domain", args: ["web", "--uri", "spiffe://evil.example/id/web"], says: [/--uri/, /another trust domain/, /example\.org/] },
  ];
  for (const c of cases) {
    const out = c.out ?? join(s.dir, `out-${c.name.replace(/\W+/g, "-")}`);
    const r = await s.run(["issue", ...c.args, "--out", out]);
    t.equal(r.code, 2, `${c.name}: exit 2 (${r.stderr.trim()})`);
    t.equal(r.stdout, "", `${c.name}: nothing on stdout`);
    t.equal(lines(r.stderr).length, 1, `${c.name}: one line on stderr`);
    for (const re of c.says) t.match(r.stderr, re, `${c.name}: the line says ${re}`);
  }
  t.same(listFiles(s.dir).sort(), filesBefore, "no command above wrote any file or directory");
  t.equal(readFileSync(aFile, "utf8"), "not a directory\n", "the file given as --out is unchanged");
  t.notOk(existsSync("/proc/nope"), "nothing in /proc");
});

t.test("issue: the rules' edges are accepted", async (t) => {
  const s = sandbox(t);
  await s.init();
  const out = join(s.dir, "deep", "er", "out");
  const r = await s.run(["issue", "web", "--ttl", "5m", "--dns", "a.local, b.local", "--uri", "spiffe://example.org/id/web", "--uri", "urn:example:web", "--uid", "4294967294", "--out", out, "--json"]);
  t.equal(r.code, 0, `exit 0 (${r.stderr})`);
  const j = JSON.parse(r.stdout) as { uris: string[]; dnsNames: string[]; notBefore: string; notAfter: string };
  t.same(j.uris, ["spiffe://example.org/id/web", "urn:example:web"], "the SPIFFE ID once (repeating the certificate's own is harmless), the URN kept");
  t.same(j.dnsNames, ["a.local", "b.local"]);
  const text = execFileSync("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", join(out, "tls.crt")], { encoding: "utf8" });
  t.equal(text.match(/URI:spiffe:/g)?.length, 1, "openssl: exactly one spiffe URI SAN");
  t.same(listFiles(out).sort(), ["ca.crt", "tls.crt", "tls.key"], "missing parents are made; only the three files land");

  // An existing OUT directory: files are replaced in place.
  mkdirSync(join(s.dir, "existing"));
  const again = await s.run(["issue", "web", "--out", join(s.dir, "existing")]);
  t.equal(again.code, 0);
  const twice = await s.run(["issue", "web", "--out", join(s.dir, "existing")]);
  t.equal(twice.code, 0, "issuing again into the same OUT replaces the files");
});

t.test("the minimum lifetime is one rule: leaf.ttl from the environment is held to it too", async (t) => {
  const s = sandbox(t);
  await s.init();
  const r = await s.run(["issue", "web", "--out", join(s.dir, "out")], { env: { SWARM_MTLS_LEAF_TTL: "2m" } });
  t.equal(r.code, 2);
  t.match(r.stderr, /leaf\.ttl: '2m' is shorter than the minimum of 5m/);
});

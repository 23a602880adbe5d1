/**
 * What an operator sees when the CA state or a backup was changed outside swarm-mtls: every command that opens the
 * state, and restore, refuse it with exit 2 and a message saying so, and the store keeps its bytes. A state written by
 * an earlier version (unauthenticated format) opens once and is re-written authenticated; an old backup is restored
 * only when the operator accepts it.
 */
import "reflect-metadata";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { createAuthority, openAuthority, parseKek } from "../../../src/ca/index.js";
import { sealAuthorityV1 } from "../../helpers/legacy-ca-state.js";
import { sandbox } from "./fixtures/cli-sandbox.js";

const REFUSED = /the CA state does not verify: it was changed outside swarm-mtls/;

async function foreignRootPem(): Promise<string> {
  return (await createAuthority({ trustDomain: "evil.example" })).authority.roots[0]!.certPem;
}

t.test("a changed CA state is refused by every command that opens it, and the store is unchanged", async (t) => {
  const s = sandbox(t);
  await s.init();
  const foreign = await foreignRootPem();
  const edits: [string, (d: Record<string, any>) => void][] = [
    ["a foreign root added", (d) => d.roots.push({ certPem: foreign })],
    ["a 10-year maximum TTL", (d) => (d.maxLeafTtlSeconds = 10 * 365 * 86400)],
    ["a new trust domain", (d) => (d.trustDomain = "evil.example")],
  ];
  const original = readFileSync(s.stateFile, "utf8");
  for (const [what, edit] of edits) {
    const doc = JSON.parse(original);
    edit(doc);
    const changed = `${JSON.stringify(doc, null, 2)}\n`;
    writeFileSync(s.stateFile, changed);
    for (const args of [["ca", "show"], ["issue", "api", "--out", join(s.dir, "out")], ["backup", "--out", join(s.dir, "b.json")]]) {
      const r = await s.run(args);
      t.equal(r.code, 2, `${what}: ${args[0]} exits 2`);
      t.match(r.stderr, REFUSED, `${what}: ${args[0]} says the state was changed`);
      t.equal(readFileSync(s.stateFile, "utf8"), changed, `${what}: ${args[0]} leaves the store as it was`);
    }
  }
  writeFileSync(s.stateFile, original);
  t.equal((await s.run(["ca", "show"])).code, 0, "the original state still opens");
});

t.test("restore refuses a changed backup and keeps the store", async (t) => {
  const s = sandbox(t);
  await s.init();
  const backup = join(s.dir, "b.json");
  t.equal((await s.run(["backup", "--out", backup])).code, 0, "backup");
  const state = readFileSync(s.stateFile, "utf8");
  const foreign = await foreignRootPem();
  const edits: [string, (d: Record<string, any>) => void][] = [
    ["a foreign root added", (d) => d.roots.push({ certPem: foreign })],
    ["a 10-year maximum TTL", (d) => (d.maxLeafTtlSeconds = 10 * 365 * 86400)],
    ["a new trust domain", (d) => (d.trustDomain = "evil.example")],
  ];
  for (const [what, edit] of edits) {
    const body = JSON.parse(readFileSync(backup, "utf8"));
    const doc = JSON.parse(body.caState);
    edit(doc);
    body.caState = JSON.stringify(doc);
    const changed = join(s.dir, "changed.json");
    writeFileSync(changed, JSON.stringify(body));
    const r = await s.run(["restore", "--force", changed]);
    t.equal(r.code, 2, `${what}: restore exits 2`);
    t.match(r.stderr, REFUSED, `${what}: restore says the backup was changed`);
    t.equal(readFileSync(s.stateFile, "utf8"), state, `${what}: the store is unchanged`);
  }
  t.equal((await s.run(["restore", "--force", backup])).code, 0, "the untouched backup restores");
});

t.test("a state of the earlier format is migrated once; an old backup needs --accept-unauthenticated", async (t) => {
  const s = sandbox(t);
  await s.init();
  const kek = parseKek(readFileSync(s.kekFile));
  const authority = await openAuthority(readFileSync(s.stateFile, "utf8"), kek);
  const legacy = sealAuthorityV1(authority, kek);

  writeFileSync(s.stateFile, legacy);
  const shown = await s.run(["ca", "show", "--json"]);
  t.equal(shown.code, 0, `the old state opens\n${shown.stderr}`);
  t.match(shown.stderr, /CA state migrated to the authenticated format/, "the migration is reported");
  const migrated = JSON.parse(readFileSync(s.stateFile, "utf8"));
  t.equal(migrated.version, 2, "the store now holds the authenticated format");
  t.type(migrated.mac, "string");
  const again = await s.run(["ca", "show"]);
  t.equal(again.code, 0);
  t.notMatch(again.stderr, /migrated/, "the second open does not migrate again");

  const old = join(s.dir, "old-backup.json");
  writeFileSync(old, JSON.stringify({ format: "swarm-mtls/backup", version: 1, createdAt: new Date().toISOString(), from: "x", caState: legacy }));
  const before = readFileSync(s.stateFile, "utf8");
  const refused = await s.run(["restore", "--force", old]);
  t.equal(refused.code, 2, "an old backup is refused by default");
  t.match(refused.stderr, /did not authenticate the CA state.*--accept-unauthenticated/s);
  t.equal(readFileSync(s.stateFile, "utf8"), before, "the store is unchanged");
  const accepted = await s.run(["restore", "--force", "--accept-unauthenticated", old]);
  t.equal(accepted.code, 0, `accepted, it restores\n${accepted.stderr}`);
  t.equal(JSON.parse(readFileSync(s.stateFile, "utf8")).version, 2, "and is stored authenticated");
});

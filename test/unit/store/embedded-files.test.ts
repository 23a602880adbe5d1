import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { readFile, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { currentGeneration, publishGeneration, readCurrentFile } from "../../../src/store/embedded-files.js";

const files = (tag: string) => ({ "tls.crt": `crt ${tag}`, "tls.key": `key ${tag}`, "ca.crt": `ca ${tag}` });

t.test("a directory written by an older version (plain files) is generation 1 and becomes links on the next rotation", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "embedded-files-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(await currentGeneration(join(dir, "none")), 0, "nothing yet: 0");
  const legacy = join(dir, "web");
  mkdirSync(legacy);
  for (const [f, v] of Object.entries(files("old"))) writeFileSync(join(legacy, f), v);
  t.equal(await currentGeneration(legacy), 1);
  t.equal(String(await readCurrentFile(legacy, "tls.crt")), "crt old");
  t.same(await publishGeneration({ dir: legacy, files: files("new"), keepPrevious: 1 }), { from: 1, to: 2 });
  t.ok(lstatSync(join(legacy, "tls.crt")).isSymbolicLink(), "tls.crt is now a link");
  t.equal(readFileSync(join(legacy, "tls.key"), "utf8"), "key new");
  t.equal(readlinkSync(join(legacy, "current")), "g2");
});

t.test("a reader that resolves current once never sees a key and a certificate of different generations", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "embedded-files-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await publishGeneration({ dir, files: files("0"), keepPrevious: 1 });
  let stop = false;
  let reads = 0;
  let mismatches = 0;
  const reader = (async () => {
    while (!stop) {
      try {
        const g = await readlink(join(dir, "current"));
        const [crt, key] = await Promise.all([readFile(join(dir, g, "tls.crt"), "utf8"), readFile(join(dir, g, "tls.key"), "utf8")]);
        reads++;
        if (crt.slice(4) !== key.slice(4)) mismatches++;
      } catch {
        /* the generation was pruned between readlink and read: read again */
      }
    }
  })();
  for (let i = 1; i <= 40; i++) await publishGeneration({ dir, files: files(String(i)), keepPrevious: 1 });
  stop = true;
  await reader;
  t.ok(reads > 0, `the reader read ${reads} pairs`);
  t.equal(mismatches, 0, "no mismatched pair");
  t.equal(await currentGeneration(dir), 41);
});

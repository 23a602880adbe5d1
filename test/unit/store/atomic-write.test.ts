/**
 * The atomic writer sets owner and mode through the open file handle, never by path after close (when a swapped name
 * could point the chmod/chown at another file): with the path-based calls made to fail, writes still succeed, and the
 * file gets its mode and owner.
 */
import t from "tap";
import * as fsp from "node:fs/promises";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

t.test("mode and owner are set by handle, not by path", async (t) => {
  const byPath: string[] = [];
  const { writeFileAtomic } = await t.mockImport<typeof import("../../../src/store/atomic-write.js")>("../../../src/store/atomic-write.js", {
    "node:fs/promises": {
      ...fsp,
      chmod: async (p: string) => {
        byPath.push(`chmod ${p}`);
        throw new Error("chmod by path");
      },
      chown: async (p: string) => {
        byPath.push(`chown ${p}`);
        throw new Error("chown by path");
      },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "atomic-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "tls.key");
  await writeFileAtomic(file, "secret\n", { mode: 0o400, uid: process.getuid!(), gid: process.getgid!() });
  t.same(byPath, [], "no chmod or chown by path");
  t.equal(statSync(file).mode & 0o777, 0o400, "the mode is set");
  t.equal(statSync(file).uid, process.getuid!(), "the owner is set");
  t.equal(readFileSync(file, "utf8"), "secret\n");
});

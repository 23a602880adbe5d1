/**
 * The first run's decisions, pure: what serve does about the CA (create, reuse, refuse), where the key-encryption key
 * file is when none is given, and advice that runs as typed however this process was started.
 */
import t from "tap";
import { kekFileFor } from "../../../src/cli/context.js";
import { firstRunStep, trustDomainOf } from "../../../src/cli/first-run.js";
import { cliInvocation, initAdvice, serveAdvice, shellWord } from "../../../src/cli/invocation.js";

t.test("firstRunStep: create on request (swarm) or on first start (embedded); reuse what exists; refuse the rest", async (t) => {
  t.same(firstRunStep({ mode: "swarm", init: true, existing: null }, "swarm"), { step: "create" }, "swarm --init, no CA: create");
  t.same(firstRunStep({ mode: "embedded", init: false, existing: null }, "file:/d"), { step: "create" }, "embedded first start: create");
  t.match(firstRunStep({ mode: "swarm", init: false, existing: null }, "swarm"), { step: "refuse", why: "no-ca", message: "no CA in swarm" }, "swarm without --init: refuse");
  t.same(firstRunStep({ mode: "swarm", init: false, existing: "example.org" }, "swarm"), { step: "reuse", note: null }, "existing CA: reuse quietly");
  t.match(
    firstRunStep({ mode: "swarm", init: true, existing: "example.org", trustDomain: "example.org" }, "swarm"),
    { step: "reuse", note: /already exists in swarm: --init creates nothing/ },
    "--init again: reuse, and say so",
  );
  t.match(
    firstRunStep({ mode: "embedded", init: true, existing: "example.org", trustDomain: "other.org" }, "file:/d"),
    { step: "refuse", why: "other-trust-domain", message: /for trust domain example\.org, not other\.org; nothing was created/ },
    "another trust domain than the CA's: refuse, never a second CA",
  );
});

t.test("kekFileFor: configured file, the file store's DIR/kek, the mounted secret, else ./data/kek", async (t) => {
  const base = { configured: "", swarm: true, storeDefault: "/run/secrets/swarm-mtls-kek", storeDefaultExists: false, cwd: "/home/op/swarm-mtls" };
  t.equal(kekFileFor(base), "/home/op/swarm-mtls/data/kek", "manager, no secret mounted: ./data/kek");
  t.equal(kekFileFor({ ...base, storeDefaultExists: true }), "/run/secrets/swarm-mtls-kek", "inside the CA service: the secret");
  t.equal(kekFileFor({ ...base, configured: "keys/kek" }), "/home/op/swarm-mtls/keys/kek", "--kek-file, relative to the working directory");
  t.equal(kekFileFor({ ...base, swarm: false, storeDefault: "/d/kek" }), "/d/kek", "file store: DIR/kek");
});

t.test("cliInvocation: the words that run this CLI again, as typed", async (t) => {
  const cwd = "/home/op/swarm-mtls";
  const facts = { argv1: `${cwd}/dist/src/cli/main.js`, cwd, env: {}, onPath: false };
  t.same(cliInvocation(facts), { command: "node dist/src/cli/main.js", npmStart: false }, "from the clone: node and the relative path");
  t.same(cliInvocation({ ...facts, cwd: "/tmp" }), { command: "node /home/op/swarm-mtls/dist/src/cli/main.js", npmStart: false }, "elsewhere: the absolute path");
  t.same(cliInvocation({ ...facts, env: { npm_lifecycle_event: "start", npm_package_name: "swarm-mtls" } }).npmStart, true, "npm start");
  t.same(cliInvocation({ ...facts, env: { npm_lifecycle_event: "start", npm_package_name: "other" } }).npmStart, false, "another package's npm start");
  t.equal(cliInvocation({ ...facts, argv1: "/usr/local/bin/swarm-mtls", onPath: true }).command, "swarm-mtls", "installed on the PATH (npm link)");
  t.equal(cliInvocation({ ...facts, argv1: "/opt/x/swarm-mtls", onPath: false }).command, "node /opt/x/swarm-mtls", "a swarm-mtls that is not the one on the PATH");
  t.equal(cliInvocation({ ...facts, argv1: `${cwd}/node_modules/.bin/swarm-mtls`, env: { npm_command: "exec" } }).command, "npx swarm-mtls", "npx");
  t.equal(cliInvocation({ ...facts, argv1: "/tmp/my dir/main.js", cwd: "/home" }).command, "node '/tmp/my dir/main.js'", "a path with a space is quoted");
  t.equal(shellWord("it's"), `'it'\\''s'`);
});

t.test("initAdvice / serveAdvice: npm start gets serve's flags after `npm start --`", async (t) => {
  const npm = { command: "node dist/src/cli/main.js", npmStart: true };
  const node = { command: "node dist/src/cli/main.js", npmStart: false };
  t.equal(initAdvice(npm, { serve: true }), "npm start -- --init --trust-domain example.org");
  t.equal(initAdvice(node, { serve: true }), "node dist/src/cli/main.js serve --init --trust-domain example.org");
  t.equal(initAdvice(node, { serve: false, flags: ["--store", "file:/x y"] }), "node dist/src/cli/main.js init --trust-domain example.org --store 'file:/x y'");
  t.equal(serveAdvice(npm, ["--store", "file:./data"]), "npm start -- --store file:./data");
  t.equal(serveAdvice(node, ["--store", "file:./data"]), "node dist/src/cli/main.js serve --store file:./data");
});

t.test("trustDomainOf: read from the CA state without the key; '?' when the document is unreadable", async (t) => {
  t.equal(trustDomainOf(JSON.stringify({ format: "swarm-mtls/ca-state", trustDomain: "example.org" })), "example.org");
  t.equal(trustDomainOf("not json"), "?");
  t.equal(trustDomainOf("{}"), "?");
});

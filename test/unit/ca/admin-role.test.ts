/**
 * Admin SPIFFE IDs (`spiffe://<td>/admin/<name>`) are the only ones the API grants admin to; the CA core puts them
 * into admin certificates only, whatever path asked for a workload certificate (labels, config `uris`, a CSR).
 */
import "reflect-metadata";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { adminSpiffeId, createAuthority, isAdminSpiffeId, issueLeaf, signCsr } from "../../../src/ca/index.js";

t.test("isAdminSpiffeId / adminSpiffeId", async (t) => {
  for (const u of ["spiffe://example.org/admin/alice", "spiffe://example.org/Admin/alice", "spiffe://x/ADMIN", "spiffe://x/admin/"]) t.ok(isAdminSpiffeId(u), u);
  for (const u of ["spiffe://example.org/id/admin", "spiffe://example.org/swarm/admin/api", "spiffe://example.org/administrator", "https://example.org/admin/x"]) t.notOk(isAdminSpiffeId(u), u);
  t.equal(adminSpiffeId("example.org", "alice"), "spiffe://example.org/admin/alice");
  t.throws(() => adminSpiffeId("example.org", "Alice"), { code: "bad-input" });
  t.throws(() => adminSpiffeId("example.org", "a/b"), { code: "bad-input" });
});

t.test("a workload certificate never carries an admin SPIFFE ID, however it is asked for", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const refused = /^URI 'spiffe:\/\/example\.org\/[Aa]dmin\/ops' is an admin SPIFFE ID \(\/admin\/\.\.\.\), which only admin certificates carry/;
  await t.rejects(issueLeaf(authority, { identity: "ops", uris: ["spiffe://example.org/admin/ops"] }), { code: "bad-input", message: refused }, "as a URI");
  await t.rejects(issueLeaf(authority, { identity: "ops", spiffeId: "spiffe://example.org/admin/ops" }), { code: "bad-input", message: refused }, "as the SPIFFE ID");
  await t.rejects(issueLeaf(authority, { identity: "ops", uris: ["spiffe://example.org/id/ops", "spiffe://example.org/Admin/ops"] }), { code: "bad-input", message: refused }, "in another case");

  const dir = mkdtempSync(join(tmpdir(), "admin-role-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "k.pem"), "-subj", "/CN=ops", "-out", join(dir, "r.csr")], { stdio: "ignore" });
  const csrPem = readFileSync(join(dir, "r.csr"), "utf8");
  await t.rejects(signCsr(authority, { csrPem, identity: "ops", uris: ["spiffe://example.org/admin/ops"] }), { code: "bad-input", message: refused }, "through a CSR");
});

t.test("an admin certificate carries exactly its admin SPIFFE ID and no DNS name", async (t) => {
  const { authority } = await createAuthority({ trustDomain: "example.org" });
  const leaf = await issueLeaf(authority, { identity: "alice", uris: ["spiffe://example.org/admin/alice"], role: "admin" });
  const dir = mkdtempSync(join(tmpdir(), "admin-role-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "c.pem"), leaf.certPem);
  const san = execFileSync("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", join(dir, "c.pem")], { encoding: "utf8" });
  t.match(san, /URI:spiffe:\/\/example\.org\/admin\/alice/, "openssl: the admin SPIFFE ID");
  t.notMatch(san, /DNS:/, "openssl: no DNS name");
  await t.rejects(issueLeaf(authority, { identity: "alice", uris: ["spiffe://example.org/admin/alice"], dnsNames: ["alice.example.org"], role: "admin" }), { code: "bad-input", message: /no DNS names/ });
  await t.rejects(issueLeaf(authority, { identity: "alice", uris: ["spiffe://example.org/admin/bob"], role: "admin" }), { code: "bad-input", message: /exactly one URI, spiffe:\/\/example\.org\/admin\/alice/ });
  await t.rejects(issueLeaf(authority, { identity: "alice", uris: ["spiffe://other.org/admin/alice"], role: "admin" }), { code: "bad-input" }, "another trust domain");
  await t.rejects(issueLeaf(authority, { identity: "alice", uris: ["spiffe://example.org/id/alice"], role: "admin" }), { code: "bad-input" }, "a workload ID");
});

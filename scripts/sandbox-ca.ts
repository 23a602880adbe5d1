/**
 * The sandbox swarm's test CA, as scripts/test.sh makes it: a CA with names of its own (configs
 * `mtls.test-<id>.ca-state.v<N>`, secret `swarm-mtls-kek-test-<id>`), so that tests and benchmarks never touch another
 * CA the swarm has (an operator's, or one an earlier checkout made whose key-encryption key is gone). Its id
 * (`ca-id`) and key-encryption key (`kek`) sit in SWARM_MTLS_TEST_DIR, default `<repo>/.test-swarm`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface SandboxCa {
  /** The CA's id, "" when scripts/test.sh has not made one in this checkout. */
  id: string;
  kekFile: string;
  caStateName: string;
  kekSecretName: string;
  /** The environment that points swarm-mtls at this CA (store swarm, KEK file, CA-state and KEK secret names). */
  env: Record<string, string>;
}

export function sandboxCa(repo: string, dir: string = process.env.SWARM_MTLS_TEST_DIR ?? join(repo, ".test-swarm")): SandboxCa {
  let id = "";
  try {
    id = readFileSync(join(dir, "ca-id"), "utf8").trim();
  } catch {
    // no test CA yet: the names below point nowhere, and callers say "run scripts/test.sh"
  }
  // Without an id the KEK file named is the missing ca-id itself, so that "<file> missing: run scripts/test.sh" says
  // what is missing (a kek left by an older checkout belongs to no CA these names reach).
  const kekFile = join(dir, id ? "kek" : "ca-id");
  const caStateName = `mtls.test-${id || "none"}.ca-state`;
  const kekSecretName = `swarm-mtls-kek-test-${id || "none"}`;
  return {
    id,
    kekFile,
    caStateName,
    kekSecretName,
    env: { SWARM_MTLS_STORE: "swarm", SWARM_MTLS_KEK_FILE: kekFile, SWARM_MTLS_CA_STATE_NAME: caStateName, SWARM_MTLS_KEK_SECRET_NAME: kekSecretName },
  };
}

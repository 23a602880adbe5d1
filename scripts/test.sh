#!/usr/bin/env bash
# The whole test suite, as the README and .ci/run run it:
#   1. a real Docker engine in swarm mode (scripts/swarm-sandbox.sh up: installs docker.io on Debian if missing),
#   2. the TypeScript build (the CLI under test is the built one, as users run it),
#   3. tap over test/unit, test/integration (real swarm) and test/e2e (stack deploy),
#   4. a final "N passed, N failed" line counted from the real run.
# Pass test files or folders as arguments to run only those (the swarm is still started).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SWARM_MTLS_NO_SANDBOX:-}" != "1" ]]; then
  bash scripts/swarm-sandbox.sh up
fi
echo "== build" >&2
npx tsc -p tsconfig.json
echo "== typecheck (sources and tests)" >&2
npx tsc -p tsconfig.test.json
# One CA in the test swarm, shared by every integration test (each test isolates itself with its own label prefix
# and lease name). Its key-encryption key stays in .test-swarm/ (git-ignored).
export SWARM_MTLS_TEST_DIR="${SWARM_MTLS_TEST_DIR:-$PWD/.test-swarm}"
mkdir -p "$SWARM_MTLS_TEST_DIR"
if [[ "${SWARM_MTLS_NO_SANDBOX:-}" != "1" ]]; then
  ca_state=$(docker config ls -q --filter label=io.swarm-mtls.kind=ca-state)
  if [[ -z "$ca_state" ]]; then
    echo "== test CA (new)" >&2
    rm -f "$SWARM_MTLS_TEST_DIR/kek"
    docker secret rm swarm-mtls-kek >/dev/null 2>&1 || true
    node dist/src/cli/main.js init --store swarm --kek-file "$SWARM_MTLS_TEST_DIR/kek" --trust-domain test.swarm >/dev/null
  elif [[ ! -f "$SWARM_MTLS_TEST_DIR/kek" ]]; then
    echo "this swarm has a CA the tests did not make ($SWARM_MTLS_TEST_DIR/kek missing): run the tests on the sandbox swarm" >&2
    exit 1
  fi
fi
echo "== tests" >&2
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(test/unit)
  [[ -d test/integration ]] && targets+=(test/integration)
  [[ -d test/e2e ]] && targets+=(test/e2e)
fi
set +e
npx tap --reporter=tap --jobs="${TEST_JOBS:-2}" "${targets[@]}" | node scripts/tap-count.mjs
rc=${PIPESTATUS[1]}
exit "$rc"

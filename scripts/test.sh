#!/usr/bin/env bash
# The whole test suite, as the README and .ci/run run it:
#   1. a real Docker engine in swarm mode (scripts/swarm-sandbox.sh up: installs docker.io on Debian if missing),
#      and for test/ha a swarm of 3 managers beside it (scripts/swarm-sandbox.sh up --managers 3),
#   2. the TypeScript build (the CLI under test is the built one, as users run it),
#   3. tap over test/unit, test/ha (3 managers: failover, quorum loss), test/integration (real swarm) and test/e2e,
#   4. a final "N passed, N failed" line counted from the real run.
# Pass test files or folders as arguments to run only those (the swarm is still started).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(test/unit)
  # The HA tests start early: they run mostly on engines of their own (the 3-manager sandbox) beside the others.
  [[ -d test/ha ]] && targets+=(test/ha)
  [[ -d test/integration ]] && targets+=(test/integration)
  [[ -d test/e2e ]] && targets+=(test/e2e)
fi
# test/ha needs the 3-manager sandbox (engines of its own, beside the host engine's single-node swarm).
needs_ha=0
for t in "${targets[@]}"; do [[ "${t#./}" == test/ha* ]] && needs_ha=1; done
if [[ "${SWARM_MTLS_NO_SANDBOX:-}" != "1" ]]; then
  bash scripts/swarm-sandbox.sh up
  if [[ "$needs_ha" == 1 ]]; then bash scripts/swarm-sandbox.sh up --managers 3; fi
fi
# Monitoring tests run promtool and the real Prometheus server (Debian's prometheus package ships both); the
# completion test runs bash with bash-completion. Installed here when missing, so CI on a fresh Debian has them.
need=()
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || need+=(prometheus)
[[ -f /usr/share/bash-completion/bash_completion ]] || need+=(bash-completion)
# The renew test runs the README's curl and openssl lines.
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [[ ${#need[@]} -gt 0 ]]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${need[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "== missing ${need[*]} and no apt-get: the monitoring/completion tests will fail" >&2
  fi
fi
echo "== build" >&2
npx tsc -p tsconfig.json
echo "== typecheck (sources and tests)" >&2
npx tsc -p tsconfig.test.json
# One CA in the test swarm, shared by every integration test (each test isolates itself with its own label prefix
# and lease name). It has names of its own (config mtls.test-<id>.ca-state.v<N>, secret swarm-mtls-kek-test-<id>), so
# it never touches another CA in the swarm: an operator's, or one an earlier checkout made whose KEK is gone. Its id
# and key-encryption key stay in .test-swarm/ (git-ignored); test/helpers/cli.ts testCa() reads them.
export SWARM_MTLS_TEST_DIR="${SWARM_MTLS_TEST_DIR:-$PWD/.test-swarm}"
mkdir -p "$SWARM_MTLS_TEST_DIR"
chmod 0700 "$SWARM_MTLS_TEST_DIR"
if [[ "${SWARM_MTLS_NO_SANDBOX:-}" != "1" ]]; then
  ca_id=$(cat "$SWARM_MTLS_TEST_DIR/ca-id" 2>/dev/null || true)
  if [[ -n "$ca_id" && -f "$SWARM_MTLS_TEST_DIR/kek" ]] \
    && docker config ls --format '{{.Name}}' | grep -q "^mtls\.test-${ca_id}\.ca-state\.v"; then
    echo "== test CA mtls.test-${ca_id} (reused)" >&2
  else
    ca_id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    echo "== test CA mtls.test-${ca_id} (new)" >&2
    rm -f "$SWARM_MTLS_TEST_DIR/kek" "$SWARM_MTLS_TEST_DIR/ca-id"
    SWARM_MTLS_CA_STATE_NAME="mtls.test-${ca_id}.ca-state" SWARM_MTLS_KEK_SECRET_NAME="swarm-mtls-kek-test-${ca_id}" \
      node dist/src/cli/main.js init --store swarm --kek-file "$SWARM_MTLS_TEST_DIR/kek" --trust-domain test.swarm >/dev/null
    echo "$ca_id" >"$SWARM_MTLS_TEST_DIR/ca-id"
  fi
fi
echo "== tests" >&2
set +e
npx tap --reporter=tap --jobs="${TEST_JOBS:-2}" "${targets[@]}" | node scripts/tap-count.mjs
rc=${PIPESTATUS[1]}
exit "$rc"

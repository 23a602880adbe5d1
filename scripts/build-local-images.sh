#!/usr/bin/env bash
# build-local-images.sh — the images of the end-to-end stack, built without any registry (`docker import` of a
# rootfs made from this machine's files):
#
#   swarm-mtls/ca:local    the swarm-mtls image: Node's binary and the libraries `ldd` lists (with the dynamic
#                          loader), and at /app exactly what the Dockerfile copies: dist/, config/, package.json and
#                          the PRODUCTION node_modules (dependencies only; the repo's node_modules is never touched).
#                          ENTRYPOINT node /app/dist/src/cli/main.js, CMD serve. Built on swarm-mtls/ca-base:local
#                          (Node + node_modules), so that a change of dist/ only adds a small layer.
#   swarm-mtls/echo:local  Node plus the tiny mTLS test programs scripts/e2e/echo-server.mjs (CMD) and
#                          scripts/e2e/client.mjs at /app/e2e/, and a static busybox for a shell.
#
# Usage: scripts/build-local-images.sh [--force] [ca|echo ...]     (default: both)
# Idempotent: each image carries the hash of its inputs in the label io.swarm-mtls.inputs; an image whose inputs
# did not change is not rebuilt (--force rebuilds). Build dist/ first (`npx tsc -p .`).
# Progress lines go to stderr; the image names built or kept go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

say() { printf 'build-local-images: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

FORCE=0
WANT=()
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    ca|echo) WANT+=("$a") ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument '$a' (usage: $0 [--force] [ca|echo ...])" ;;
  esac
done
[ "${#WANT[@]}" -gt 0 ] || WANT=(ca echo)

CA_IMAGE="${CA_IMAGE:-swarm-mtls/ca:local}"
CA_BASE_IMAGE="${CA_BASE_IMAGE:-swarm-mtls/ca-base:local}"
ECHO_IMAGE="${ECHO_IMAGE:-swarm-mtls/echo:local}"
NODE_BIN="$(command -v node)" || die "node not found"
NODE_BIN="$(readlink -f "$NODE_BIN")"
command -v docker >/dev/null || die "docker CLI not found"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers (scripts/swarm-sandbox.sh up)"
[ -f dist/src/cli/main.js ] || die "dist/ is not built: run npx tsc -p tsconfig.json first"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The shared libraries Node needs, as ldd lists them (absolute paths only: skips linux-vdso), plus the loader.
node_libs() {
  ldd "$NODE_BIN" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u
}

# Node, its libraries at the paths the loader looks for them, /tmp, a minimal /etc.
put_node() {
  local root="$1" lib
  mkdir -p "$root/usr/bin" "$root/tmp" "$root/etc" "$root/run/secrets"
  chmod 1777 "$root/tmp"
  cp "$NODE_BIN" "$root/usr/bin/node"
  for lib in $(node_libs); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  # glibc >= 2.34 has the files and dns NSS modules built in; older ones load them from disk: take them if present.
  for lib in /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
    [ -e "$lib" ] && { mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; }
  done
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/app:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"
  # Optional: the system CA bundle (Node has its own; some libraries read the file).
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$root/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  fi
}

# Production node_modules: the packages `npm ls --omit=dev` names, copied from the repo's node_modules (read only,
# offline, the exact versions the lock file installed). Top-level entries carry their nested node_modules.
put_prod_modules() {
  local dest="$1" p rel top
  mkdir -p "$dest"
  npm ls --omit=dev --all --parseable 2>/dev/null | while IFS= read -r p; do
    [ "$p" = "$REPO" ] && continue
    rel="${p#"$REPO"/node_modules/}"
    case "$rel" in
      @*/*) top="$(printf '%s' "$rel" | cut -d/ -f1-2)" ;;
      *) top="$(printf '%s' "$rel" | cut -d/ -f1)" ;;
    esac
    printf '%s\n' "$top"
  done | sort -u >"$WORK/prod-modules.txt"
  [ -s "$WORK/prod-modules.txt" ] || die "npm ls --omit=dev listed no packages (is node_modules installed? npm ci)"
  while IFS= read -r top; do
    [ -d "node_modules/$top" ] || die "node_modules/$top missing: run npm ci"
    mkdir -p "$dest/$(dirname "$top")"
    cp -a "node_modules/$top" "$dest/$top"
  done <"$WORK/prod-modules.txt"
}

# A static busybox with its applets (sh, ls, cat, wget...), for a shell inside the test image.
put_busybox() {
  local root="$1" bb="" b applet
  for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then bb="$b"; break; fi
  done
  [ -n "$bb" ] || { say "no static busybox: the echo image gets no shell"; return 0; }
  mkdir -p "$root/bin"
  cp "$bb" "$root/bin/busybox"
  for applet in $("$bb" --list); do
    [ -e "$root/bin/$applet" ] || ln -s /bin/busybox "$root/bin/$applet"
  done
}

hash_files() { # stable hash of file names + contents
  (cd "$REPO" && find "$@" -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-32
}

image_inputs() {
  local node_hash
  node_hash="$(sha256sum "$NODE_BIN" | cut -c1-16)"
  case "$1" in
    ca-base) printf 'v2 %s %s\n' "$node_hash" "$(hash_files package-lock.json)" | sha256sum | cut -c1-32 ;;
    ca) printf 'v2 %s\n' "$(hash_files dist/src config package.json scripts/build-local-images.sh)" | sha256sum | cut -c1-32 ;;
    echo) printf 'v1 %s %s\n' "$node_hash" "$(hash_files scripts/e2e scripts/build-local-images.sh)" | sha256sum | cut -c1-32 ;;
  esac
}

up_to_date() { # image inputs-hash
  [ "$FORCE" -eq 0 ] && [ "$(docker image inspect -f '{{index .Config.Labels "io.swarm-mtls.inputs"}}' "$1" 2>/dev/null || true)" = "$2" ]
}

import_rootfs() { # rootfs image inputs-hash change...
  local root="$1" image="$2" inputs="$3"
  shift 3
  local args=(--change "LABEL io.swarm-mtls.inputs=$inputs" --change 'ENV NODE_ENV=production' --change 'WORKDIR /app')
  local c
  for c in "$@"; do args+=(--change "$c"); done
  tar -C "$root" --numeric-owner -c . | docker import "${args[@]}" - "$image" >/dev/null
  say "imported $image"
}

# Two steps, so that a change of dist/ does not re-import Node and node_modules (~190 MB):
#   1. swarm-mtls/ca-base:local  Node, its libraries and the production node_modules (docker import), keyed by
#      the Node binary and package-lock.json;
#   2. swarm-mtls/ca:local       the base plus dist/src, config/ and package.json (docker create + cp + commit).
build_ca() {
  local base_inputs inputs root="$WORK/ca" stage="$WORK/ca-app" ctr
  base_inputs="$(image_inputs ca-base)"
  if up_to_date "$CA_BASE_IMAGE" "$base_inputs"; then
    say "$CA_BASE_IMAGE is up to date"
  else
    say "building $CA_BASE_IMAGE (Node and production node_modules)"
    put_node "$root"
    mkdir -p "$root/app/dist"
    put_prod_modules "$root/app/node_modules"
    import_rootfs "$root" "$CA_BASE_IMAGE" "$base_inputs" 'ENTRYPOINT ["node"]'
  fi
  inputs="$(printf '%s %s\n' "$(docker image inspect -f '{{.Id}}' "$CA_BASE_IMAGE")" "$(image_inputs ca)" | sha256sum | cut -c1-32)"
  if up_to_date "$CA_IMAGE" "$inputs"; then say "$CA_IMAGE is up to date"; echo "$CA_IMAGE"; return 0; fi
  say "building $CA_IMAGE"
  # The same files the Dockerfile copies (its node_modules are in the base).
  mkdir -p "$stage/dist"
  cp -a dist/src "$stage/dist/src"
  cp -a config "$stage/config"
  cp package.json "$stage/package.json"
  ctr="$(docker create "$CA_BASE_IMAGE")"
  docker cp "$stage/." "$ctr:/app/" >/dev/null
  docker commit \
    --change "LABEL io.swarm-mtls.inputs=$inputs" --change 'ENV NODE_ENV=production' --change 'WORKDIR /app' \
    --change 'ENV SWARM_MTLS_API_LISTEN=0.0.0.0:8443' \
    --change 'ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]' --change 'CMD ["serve"]' --change 'EXPOSE 8443' \
    "$ctr" "$CA_IMAGE" >/dev/null
  docker rm "$ctr" >/dev/null
  # Smoke test: the CLI must load with the production modules only.
  docker run --rm "$CA_IMAGE" --version >/dev/null || die "$CA_IMAGE does not run (swarm-mtls --version failed)"
  say "built $CA_IMAGE"
  echo "$CA_IMAGE"
}

build_echo() {
  local inputs root="$WORK/echo"
  inputs="$(image_inputs echo)"
  if up_to_date "$ECHO_IMAGE" "$inputs"; then say "$ECHO_IMAGE is up to date"; echo "$ECHO_IMAGE"; return 0; fi
  say "building $ECHO_IMAGE"
  put_node "$root"
  put_busybox "$root"
  mkdir -p "$root/app/e2e"
  cp scripts/e2e/*.mjs "$root/app/e2e/"
  import_rootfs "$root" "$ECHO_IMAGE" "$inputs" \
    'ENTRYPOINT ["node"]' 'CMD ["/app/e2e/echo-server.mjs"]' 'EXPOSE 8443 8080'
  docker run --rm --entrypoint node "$ECHO_IMAGE" -e 'process.exit(0)' || die "$ECHO_IMAGE does not run node"
  echo "$ECHO_IMAGE"
}

for w in "${WANT[@]}"; do "build_$w"; done

#!/usr/bin/env bash
# swarm-sandbox.sh — a single-node Docker Swarm for integration tests, without any image registry.
#
#   scripts/swarm-sandbox.sh up       install docker.io + busybox-static (Debian) if missing, start dockerd if no
#                                     daemon answers, `docker swarm init`, import the busybox test image. Idempotent.
#   scripts/swarm-sandbox.sh down     leave the swarm and stop dockerd, but only what `up` started (marker files).
#   scripts/swarm-sandbox.sh status   engine version, swarm state, test image presence.
#
# Environment:
#   SANDBOX_DIR        state dir for pid/marker files and the dockerd log (default /var/lib/swarm-mtls-sandbox)
#   SANDBOX_IMAGE      tag of the busybox test image (default swarm-mtls/busybox:test)
#   DOCKERD_WAIT_SECS  how long to wait for the daemon socket (default 60)
#   DOCKERD_EXTRA_ARGS extra flags for dockerd (default none)
#
# Progress lines go to stderr; `status` prints to stdout.
set -euo pipefail

SANDBOX_DIR="${SANDBOX_DIR:-/var/lib/swarm-mtls-sandbox}"
SANDBOX_IMAGE="${SANDBOX_IMAGE:-swarm-mtls/busybox:test}"
DOCKERD_WAIT_SECS="${DOCKERD_WAIT_SECS:-60}"
DOCKER_SOCK=/var/run/docker.sock
DOCKERD_LOG="${DOCKERD_LOG:-$SANDBOX_DIR/dockerd.log}"
DOCKERD_PID="$SANDBOX_DIR/dockerd.pid"
MARK_DOCKERD="$SANDBOX_DIR/started-dockerd"
MARK_SWARM="$SANDBOX_DIR/started-swarm"

say() { printf 'swarm-sandbox: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Prefer Debian's docker CLI when it is there; any client that negotiates the API version works.
DOCKER="$(command -v docker || true)"
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
dk() { "$DOCKER" -H "unix://$DOCKER_SOCK" "$@"; }

daemon_answers() { [ -S "$DOCKER_SOCK" ] && [ -n "$DOCKER" ] && dk version --format '{{.Server.Version}}' >/dev/null 2>&1; }

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  [ -x /usr/bin/docker ] || command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  if ! { [ -x /bin/busybox ] && file_is_static /bin/busybox; } && ! { [ -x /usr/bin/busybox ] && file_is_static /usr/bin/busybox; }; then
    missing+=(busybox-static)
  fi
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get: install Docker and busybox by hand"
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # busybox-static conflicts with busybox; it is what we want (a static binary to put into the image).
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  DOCKER="$(command -v docker || true)"
  [ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
  [ -n "$DOCKER" ] || die "docker CLI still missing after install"
}

busybox_bin() {
  local b
  for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && file_is_static "$b"; then echo "$b"; return 0; fi
  done
  die "no static busybox found: apt-get install busybox-static"
}

file_is_static() {
  # A dynamic binary would not run inside the empty image. `ldd` prints "not a dynamic executable" for static ones.
  ! ldd "$1" >/dev/null 2>&1
}

start_dockerd() {
  if daemon_answers; then say "docker daemon already answers on $DOCKER_SOCK"; return 0; fi
  command -v dockerd >/dev/null 2>&1 || die "dockerd not found"
  mkdir -p "$SANDBOX_DIR" "$(dirname "$DOCKERD_LOG")"
  say "starting dockerd (log: $DOCKERD_LOG)"
  # shellcheck disable=SC2086
  nohup dockerd --host "unix://$DOCKER_SOCK" --pidfile "$SANDBOX_DIR/dockerd.engine.pid" ${DOCKERD_EXTRA_ARGS:-} \
    >>"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$DOCKERD_PID"
  touch "$MARK_DOCKERD"
  local deadline=$((SECONDS + DOCKERD_WAIT_SECS))
  until daemon_answers; do
    if ! kill -0 "$(cat "$DOCKERD_PID")" 2>/dev/null; then
      say "dockerd exited; last log lines:"; tail -n 30 "$DOCKERD_LOG" >&2 || true
      rm -f "$MARK_DOCKERD" "$DOCKERD_PID"
      die "dockerd did not start"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "dockerd did not answer within ${DOCKERD_WAIT_SECS}s; last log lines:"; tail -n 30 "$DOCKERD_LOG" >&2 || true
      die "dockerd did not start in time"
    fi
    sleep 0.3
  done
  say "dockerd answers (engine $(dk version --format '{{.Server.Version}}'))"
}

swarm_state() { dk info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || echo "unknown false"; }

ensure_swarm() {
  local st deadline=$((SECONDS + 60))
  # Right after a daemon (re)start a manager reports "pending" (or not yet manager) while Raft recovers: wait for it.
  while :; do
    st="$(swarm_state)"
    case "$st" in "active true"|"inactive false") break ;; esac
    if [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.5
  done
  case "$st" in
    "active true") say "swarm already active, this node is a manager"; return 0 ;;
    "inactive false") ;;
    "active false") die "this node is a swarm worker, not a manager: run the tests on a manager" ;;
    *) die "swarm is in state '$st': fix it by hand (docker swarm leave --force)" ;;
  esac
  say "docker swarm init --advertise-addr 127.0.0.1"
  dk swarm init --advertise-addr 127.0.0.1 >/dev/null
  mkdir -p "$SANDBOX_DIR"; touch "$MARK_SWARM"
  deadline=$((SECONDS + 30))
  until [ "$(swarm_state)" = "active true" ]; do
    [ "$SECONDS" -ge "$deadline" ] && die "swarm did not become active"
    sleep 0.3
  done
}

ensure_image() {
  if dk image inspect "$SANDBOX_IMAGE" >/dev/null 2>&1; then say "image $SANDBOX_IMAGE present"; return 0; fi
  local bb work
  bb="$(busybox_bin)"
  work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/run/secrets" "$work/rootfs/root"
  chmod 1777 "$work/rootfs/tmp"
  cp "$bb" "$work/rootfs/bin/busybox"
  # Same result as `busybox --install -s /bin` inside the rootfs, without needing chroot.
  local applet
  for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf /bin/busybox "$work/rootfs/bin/$applet"
  done
  ln -sf /bin "$work/rootfs/sbin"
  printf 'root:x:0:0:root:/root:/bin/sh\nenvoy:x:101:101:envoy:/tmp:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$work/rootfs/etc/passwd"
  printf 'root:x:0:\nenvoy:x:101:\nnogroup:x:65534:\n' >"$work/rootfs/etc/group"
  say "importing $SANDBOX_IMAGE from a busybox rootfs ($bb)"
  tar -C "$work/rootfs" -c . | dk import --change 'CMD ["/bin/sh"]' - "$SANDBOX_IMAGE" >/dev/null
  dk image inspect "$SANDBOX_IMAGE" >/dev/null
}

cmd_up() {
  [ "$(id -u)" -eq 0 ] || die "run as root (installs packages and starts dockerd)"
  ensure_packages
  start_dockerd
  ensure_swarm
  ensure_image
  say "ready: $(dk info --format 'engine {{.ServerVersion}}, swarm {{.Swarm.LocalNodeState}}, node {{.Swarm.NodeID}}')"
}

cmd_down() {
  if [ -f "$MARK_SWARM" ]; then
    if daemon_answers; then say "leaving the swarm"; dk swarm leave --force >/dev/null 2>&1 || true; fi
    rm -f "$MARK_SWARM"
  else
    say "swarm was not initialised by this script: left as is"
  fi
  if [ -f "$MARK_DOCKERD" ] && [ -f "$DOCKERD_PID" ]; then
    local pid; pid="$(cat "$DOCKERD_PID")"
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping dockerd (pid $pid)"
      kill -TERM "$pid"
      local deadline=$((SECONDS + 30))
      while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then say "dockerd still running after 30s: SIGKILL"; kill -KILL "$pid" || true; break; fi
        sleep 0.3
      done
    fi
    rm -f "$MARK_DOCKERD" "$DOCKERD_PID"
  else
    say "dockerd was not started by this script: left running"
  fi
}

cmd_status() {
  if [ -z "$DOCKER" ]; then echo "docker: not installed"; return 1; fi
  if ! daemon_answers; then echo "engine: not answering on $DOCKER_SOCK"; return 1; fi
  echo "engine: $(dk version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
  echo "swarm: $(dk info --format '{{.Swarm.LocalNodeState}} (manager: {{.Swarm.ControlAvailable}}, node {{.Swarm.NodeID}})')"
  if dk image inspect "$SANDBOX_IMAGE" >/dev/null 2>&1; then echo "image: $SANDBOX_IMAGE present"; else echo "image: $SANDBOX_IMAGE missing"; fi
  echo "started by sandbox: dockerd=$([ -f "$MARK_DOCKERD" ] && echo yes || echo no) swarm=$([ -f "$MARK_SWARM" ] && echo yes || echo no)"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac

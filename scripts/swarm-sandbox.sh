#!/usr/bin/env bash
# swarm-sandbox.sh — a single-node Docker Swarm for integration tests, without any image registry.
#
#   scripts/swarm-sandbox.sh up       install docker.io + busybox-static + openssl + curl (Debian) if missing, start dockerd if no
#                                     daemon answers, `docker swarm init`, import the busybox test image. Idempotent.
#   scripts/swarm-sandbox.sh down     leave the swarm and stop dockerd, but only what `up` started (marker files).
#   scripts/swarm-sandbox.sh status   engine version, swarm state, test image presence.
#
#   scripts/swarm-sandbox.sh up --managers 3     a swarm of 3 managers on this machine, beside the above and without
#                                     touching the host engine: one dockerd per node in its own network, mount and UTS
#                                     namespaces, a host bridge (smtlsha0, 100.64.213.0/24), the busybox image loaded.
#                                     The tests reach node i at unix:///var/lib/swarm-mtls-ha/m<i>/docker.sock.
#   scripts/swarm-sandbox.sh down --managers 3   removes all of it: engines and containers, namespaces, links, the
#                                     FORWARD rule, data dirs.
#   scripts/swarm-sandbox.sh kill-node I | start-node I | link-down I | link-up I | load-images IMAGE...
#                                     what the HA tests do to it (see usage).
#
# Environment:
#   HA_DIR             state of the multi-manager sandbox (default /var/lib/swarm-mtls-ha)
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
  # The tests check certificates with openssl, and follow the README's commands (curl, openssl) as typed.
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
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
    # The pid file can outlive a reboot: stop the pid only while it is still a dockerd.
    if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
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

# ---------------------------------------------------------------------------------------------------------------
# A swarm of N managers on this one machine (`up --managers 3`), beside the single-node sandbox and without touching
# the host engine: every node is a dockerd of its own in its own network namespace (nsenter --net, not
# `ip netns exec`, which remounts /sys without the cgroup hierarchy) and its own mount namespace with a private /run
# (so the /var/run/docker.sock a task bind-mounts is its own node's engine, not the host's). The nodes reach each
# other over a host bridge; the tests reach each engine through a socket under $HA_DIR/<node>/docker.sock.
HA_DIR="${HA_DIR:-/var/lib/swarm-mtls-ha}"
HA_BRIDGE="${HA_BRIDGE:-smtlsha0}"
HA_NET="${HA_NET:-100.64.213}" # /24 on the bridge: .1 the host, .11.. the nodes (outside Docker's address pools)
HA_WAIT_SECS="${HA_WAIT_SECS:-90}"
HA_IMAGES="${HA_IMAGES:-$SANDBOX_IMAGE}" # images copied from the host engine into every node (docker save | load)

ha_node() { printf 'smtls-ha-m%s' "$1"; }
ha_ip() { printf '%s.%s' "$HA_NET" "$((10 + $1))"; }
ha_sock() { printf '%s/m%s/docker.sock' "$HA_DIR" "$1"; }
hk() { local n="$1"; shift; "$DOCKER" -H "unix://$(ha_sock "$n")" "$@"; }
ha_answers() { [ -S "$(ha_sock "$1")" ] && hk "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
ha_state() { hk "$1" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || echo "unknown false"; }

ha_network() {
  local n="$1" ns host_if
  ns="$(ha_node "$n")"; host_if="smtlsha-m$n"
  if ! ip link show "$HA_BRIDGE" >/dev/null 2>&1; then
    say "bridge $HA_BRIDGE ($HA_NET.1/24)"
    ip link add "$HA_BRIDGE" type bridge
    ip addr add "$HA_NET.1/24" dev "$HA_BRIDGE"
  fi
  ip link set "$HA_BRIDGE" up
  # Docker's FORWARD policy drops bridged traffic (br_netfilter): let the nodes talk to each other.
  iptables -C FORWARD -i "$HA_BRIDGE" -o "$HA_BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$HA_BRIDGE" -o "$HA_BRIDGE" -j ACCEPT
  [ -e "/run/netns/$ns" ] || ip netns add "$ns"
  # A namespace made anew (after kill-node) lacks its end of the link: the old pair goes (its other end may still sit
  # in the dead node's namespace, which the kernel can keep a while), a new one is made.
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then ip link del "$host_if" 2>/dev/null || true; fi
  if ! ip link show "$host_if" >/dev/null 2>&1; then
    ip link add "$host_if" type veth peer name eth0 netns "$ns"
    ip link set "$host_if" master "$HA_BRIDGE"
  fi
  ip link set "$host_if" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr replace "$(ha_ip "$n")/24" dev eth0
  ip -n "$ns" link set eth0 up
  # No default route: the nodes only ever talk to addresses on the bridge, and a registry or DNS lookup an engine
  # tries (image digests on `service create`) fails at once instead of timing out.
  ip -n "$ns" route del default 2>/dev/null || true
}

# Every process of node n: those in its engine's mount namespace (dockerd, containerd, shims) and their descendants
# (the containers, which have namespaces of their own).
ha_pids() {
  local n="$1" pidf="$HA_DIR/m$1/launcher.pid" root mnt p
  [ -f "$pidf" ] || return 0
  root="$(cat "$pidf")"
  mnt="$(readlink "/proc/$root/ns/mnt" 2>/dev/null)" || return 0
  # A pid file outlives a reboot (or a killed node) and its pid can be reused by any process of the host. Only a pid
  # in a mount namespace other than ours is a node's: a pid in ours would name every process of the machine,
  # this script included.
  [ "$mnt" != "$(readlink /proc/$$/ns/mnt)" ] || return 0
  local seeds=()
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mnt" ] && seeds+=("${p#/proc/}")
  done
  [ "${#seeds[@]}" -gt 0 ] || return 0
  ps -e -o pid=,ppid= | awk -v seeds="${seeds[*]}" '
    BEGIN { n = split(seeds, s, " "); for (i = 1; i <= n; i++) keep[s[i]] = 1 }
    { parent[$1] = $2; pids[++m] = $1 }
    END {
      do { grew = 0; for (i = 1; i <= m; i++) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } } } while (grew)
      for (p in keep) print p
    }'
}

ha_start_engine() {
  local n="$1" d="$HA_DIR/m$1" ns
  ns="$(ha_node "$n")"
  if ha_answers "$n"; then return 0; fi
  if [ -n "$(ha_pids "$n")" ]; then say "node m$n: engine not answering but processes left: killing them"; ha_kill "$n"; fi
  mkdir -p "$d/docker"
  rm -f "$(ha_sock "$n")"
  say "node m$n: starting dockerd in netns $ns ($(ha_ip "$n"), log $d/dockerd.log)"
  # The launcher's pid names the node's mount namespace (ha_pids). Inside it: a tmpfs on /run, so the engine's
  # /var/run/docker.sock, containerd, exec root and pid file are the node's own.
  # (and a host name of its own, m<n>, as `docker node ls` shows it).
  # shellcheck disable=SC2016
  nohup nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation private -- sh -c '
      mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/netns && hostname "$2" &&
      exec dockerd --data-root "$1/docker" -H unix:///var/run/docker.sock -H "unix://$1/docker.sock" \
        --iptables=true --ip-masq=true --userland-proxy=false --log-level=warn' sh "$d" "m$n" \
    >>"$d/dockerd.log" 2>&1 </dev/null &
  echo $! >"$d/launcher.pid"
  local deadline=$((SECONDS + HA_WAIT_SECS))
  until ha_answers "$n"; do
    if ! kill -0 "$(cat "$d/launcher.pid")" 2>/dev/null; then tail -n 30 "$d/dockerd.log" >&2 || true; die "node m$n: dockerd exited"; fi
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 30 "$d/dockerd.log" >&2 || true; die "node m$n: dockerd did not answer within ${HA_WAIT_SECS}s"; }
    sleep 0.3
  done
}

# SIGKILL every process of node n (engine, containerd, shims, containers): what a crashed machine looks like.
ha_kill() {
  local n="$1" pids tries=0
  while pids="$(ha_pids "$n")"; [ -n "$pids" ]; do
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    tries=$((tries + 1)); [ "$tries" -lt 50 ] || die "node m$n: processes survive SIGKILL: $pids"
    sleep 0.1
  done
  rm -f "$HA_DIR/m$n/launcher.pid" "$(ha_sock "$n")"
}

ha_wait_manager() { # n
  local deadline=$((SECONDS + HA_WAIT_SECS)) st
  until st="$(ha_state "$1")"; [ "$st" = "active true" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "node m$1: swarm state '$st' after ${HA_WAIT_SECS}s"
    sleep 0.5
  done
}

ha_swarm() { # managers
  local n st token
  st="$(ha_state 1)"
  case "$st" in
    "inactive false")
      say "node m1: docker swarm init --advertise-addr $(ha_ip 1)"
      hk 1 swarm init --advertise-addr "$(ha_ip 1)" --listen-addr "$(ha_ip 1):2377" >/dev/null ;;
  esac
  ha_wait_manager 1
  token="$(hk 1 swarm join-token -q manager)"
  for n in $(seq 2 "$1"); do
    st="$(ha_state "$n")"
    if [ "$st" = "inactive false" ]; then
      say "node m$n: docker swarm join as manager --advertise-addr $(ha_ip "$n")"
      hk "$n" swarm join --advertise-addr "$(ha_ip "$n")" --listen-addr "$(ha_ip "$n"):2377" --token "$token" "$(ha_ip 1):2377" >/dev/null
    fi
    ha_wait_manager "$n"
  done
}

# Copies images into every node that lacks them (or has another id): from the host engine when it has the image,
# else from node 1 (an image built on node 1 with DOCKER_HOST=unix://$HA_DIR/m1/docker.sock).
ha_images() { # managers images...
  local m="$1" n img id src; shift
  for img in "$@"; do
    if id="$(dk image inspect -f '{{.Id}}' "$img" 2>/dev/null)"; then src=host
    elif id="$(hk 1 image inspect -f '{{.Id}}' "$img" 2>/dev/null)"; then src=1
    else die "image $img is neither on the host engine nor on node m1"; fi
    for n in $(seq 1 "$m"); do
      [ "$src" = "$n" ] && continue
      [ "$(hk "$n" image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)" = "$id" ] && continue
      say "node m$n: loading $img"
      if [ "$src" = host ]; then dk save "$img" | hk "$n" load >/dev/null; else hk 1 save "$img" | hk "$n" load >/dev/null; fi
    done
  done
}

ha_up() { # managers
  local m="$1" n
  [ "$(id -u)" -eq 0 ] || die "run as root (namespaces, links, dockerd)"
  ensure_packages
  local need=()
  command -v ip >/dev/null || need+=(iproute2)
  command -v iptables >/dev/null || need+=(iptables)
  command -v nsenter >/dev/null && command -v unshare >/dev/null || need+=(util-linux)
  if [ "${#need[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]} and no apt-get: install them by hand"
    say "installing ${need[*]} (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  mkdir -p "$HA_DIR"
  echo "$m" >"$HA_DIR/managers"
  for n in $(seq 1 "$m"); do ha_network "$n"; ha_start_engine "$n"; done
  ha_swarm "$m"
  # shellcheck disable=SC2086
  daemon_answers && ha_images "$m" $HA_IMAGES
  say "ready: $m managers ($(for n in $(seq 1 "$m"); do printf '%s ' "$(ha_sock "$n")"; done))"
}

ha_down() { # managers
  local m="$1" n ns
  [ -f "$HA_DIR/managers" ] && m="$(cat "$HA_DIR/managers")"
  for n in $(seq 1 "$m"); do
    ns="$(ha_node "$n")"
    ha_kill "$n"
    ip link del "smtlsha-m$n" 2>/dev/null || true
    [ -e "/run/netns/$ns" ] && ip netns del "$ns"
    # Mounts the engine left behind under its data root (none normally: they die with its mount namespace).
    rm -rf "${HA_DIR:?}/m$n"
  done
  iptables -D FORWARD -i "$HA_BRIDGE" -o "$HA_BRIDGE" -j ACCEPT 2>/dev/null || true
  ip link del "$HA_BRIDGE" 2>/dev/null || true
  rm -rf "${HA_DIR:?}"
  say "removed the $m-manager sandbox"
}

ha_status() { # managers
  local m="$1" n
  [ -f "$HA_DIR/managers" ] && m="$(cat "$HA_DIR/managers")"
  for n in $(seq 1 "$m"); do
    if ha_answers "$n"; then echo "m$n $(ha_ip "$n") $(ha_sock "$n"): $(hk "$n" info --format '{{.Swarm.LocalNodeState}} manager={{.Swarm.ControlAvailable}} node={{.Swarm.NodeID}}')"
    else echo "m$n $(ha_ip "$n") $(ha_sock "$n"): down"; fi
  done
}

usage() {
  cat >&2 <<USAGE
usage: $0 up|down|status                    the single-node sandbox on the host engine
       $0 up|down|status --managers N       N managers in namespaces of their own (sockets $HA_DIR/m<i>/docker.sock)
       $0 kill-node I | start-node I        SIGKILL everything of node I / start its engine again (same state)
       $0 node-pids I                       the processes kill-node I would kill, one per line (none: node is down)
       $0 link-down I | link-up I           cut / restore node I's network link
       $0 load-images IMAGE...              copy images from the host engine into every node
USAGE
  exit 2
}

cmd="${1:-}"; shift || true
managers=0
if [ "${1:-}" = "--managers" ]; then managers="${2:-}"; [[ "$managers" =~ ^[1-9]$ ]] || usage; shift 2; fi
ha_managers() { cat "$HA_DIR/managers" 2>/dev/null || die "no multi-manager sandbox (up --managers N first)"; }
ha_index() { [[ "${1:-}" =~ ^[1-9]$ ]] && [ "$1" -le "$(ha_managers)" ] || die "node index '${1:-}' out of range (1..$(ha_managers))"; }
case "$cmd" in
  up) if [ "$managers" -gt 0 ]; then ha_up "$managers"; else cmd_up; fi ;;
  down) if [ "$managers" -gt 0 ]; then ha_down "$managers"; else cmd_down; fi ;;
  status) if [ "$managers" -gt 0 ]; then ha_status "$managers"; else cmd_status; fi ;;
  # A crashed machine comes back with fresh kernel network state: the node's network namespace goes with the kill
  # and is made anew on start. (Kept, the restarted engine fails every overlay join with "error creating vxlan
  # interface: file exists": the dead engine's VXLAN ids stay registered in that namespace.)
  kill-node) ha_index "${1:-}"; say "node m$1: SIGKILL engine, containerd and containers"; ha_kill "$1"
    ip netns del "$(ha_node "$1")" 2>/dev/null || true ;;
  node-pids) ha_index "${1:-}"; ha_pids "$1" ;;
  start-node) ha_index "${1:-}"; ha_network "$1"; ha_start_engine "$1"; ha_wait_manager "$1" ;;
  link-down) ha_index "${1:-}"; ip link set "smtlsha-m$1" down ;;
  link-up) ha_index "${1:-}"; ip link set "smtlsha-m$1" up ;;
  load-images) [ "$#" -gt 0 ] || usage; ha_images "$(ha_managers)" "$@" ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Our daemon alone: GET /1.0/instances?recursion=2 latency and the daemon's RSS with NLIST
# running busybox containers on a dir pool, driven by Debian's lxc client.
# Run as root from the repository's root:   benches/daemon-footprint.sh
#   NLIST=20   containers to launch
#   N=15       timed requests (the median is printed)
#   RUNS=1     repeat the whole measurement on the same daemon (medians of each run)
#   BRIDGE=1   also a managed bridge with a nic per container (the daemon then runs in a
#              network namespace of its own, so nothing touches the host's network)
#   IMAGE=F    import the busybox image F (e.g. the one LXD's tools built, whose 8 MiB xz
#              dictionary weighs on the daemon's heap) instead of building one
# Builds the daemon (release) and the busybox image first; everything it makes (containers,
# image, pool, network, the daemon by its PID, its data directory) is gone when it exits.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && PATH="$HOME/.cargo/bin:$PATH"
N=${N:-15}
NLIST=${NLIST:-20}
RUNS=${RUNS:-1}
BRIDGE=${BRIDGE:-0}
OUT=$(mktemp -d /tmp/lxd-footprint.XXXXXX)
export LXD_DIR=$OUT/lxd LXD_CONF=$OUT/client
PID=""
cleanup() {
  if [ -n "$PID" ]; then
    lxc delete -f $(lxc list -c n -f csv 2>/dev/null) >/dev/null 2>&1 || true
    for f in $(lxc image list -c f -f csv 2>/dev/null); do lxc image delete "$f" >/dev/null 2>&1 || true; done
    printf 'config: {}\ndescription: Default LXD profile\ndevices: {}\n' | lxc profile edit default >/dev/null 2>&1 || true
    lxc network delete fpbr0 >/dev/null 2>&1 || true
    lxc storage delete fp >/dev/null 2>&1 || true
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  awk -v d="$OUT/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l || true
  rm -rf "$OUT"
}
trap cleanup EXIT

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
rss() { awk '/VmRSS/ {printf "%.1f MB (%d kB)", $2 / 1024, $2}' "/proc/$1/status"; }
threads() { awk '/Threads/ {print $2}' "/proc/$1/status"; }

cargo build -q --release -p lxd-daemon -p lxd-examples --examples
LXD_RS=$PWD/target/release/lxd
mkdir -p "$LXD_DIR" "$LXD_CONF"
if [ -n "${IMAGE:-}" ]; then
  cp "$IMAGE" "$OUT/bb.tar.xz"
else
  ./target/release/examples/busybox-image "$OUT/bb.tar.xz" >/dev/null
fi

if [ "$BRIDGE" = 1 ]; then
  unshare --net "$LXD_RS" --group root --logfile "$OUT/lxd.log" & PID=$!
else
  "$LXD_RS" --group root --logfile "$OUT/lxd.log" & PID=$!
fi
"$LXD_RS" waitready --timeout 30
{
  printf 'storage_pools:\n- name: fp\n  driver: dir\n'
  if [ "$BRIDGE" = 1 ]; then
    printf 'networks:\n- name: fpbr0\n  type: bridge\n  config:\n    ipv4.address: 10.213.77.1/24\n    ipv6.address: none\n'
  fi
  printf 'profiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: fp\n      type: disk\n'
  if [ "$BRIDGE" = 1 ]; then
    printf '    eth0:\n      name: eth0\n      network: fpbr0\n      type: nic\n'
  fi
} | "$LXD_RS" init --preseed
lxc image import "$OUT/bb.tar.xz" --alias bb >/dev/null
for i in $(seq "$NLIST"); do lxc launch bb "fp$i" >/dev/null 2>"$OUT/launch.err" || { cat "$OUT/launch.err"; exit 1; }; done
echo "daemon RSS after $NLIST launches: $(rss "$PID"), $(threads "$PID") threads"
sock=$LXD_DIR/unix.socket
for r in $(seq "$RUNS"); do
  sleep 1
  rec2=$(for i in $(seq "$N"); do ms curl -s --unix-socket "$sock" "http://lxd/1.0/instances?recursion=2"; done | median)
  # The same request as curl itself times it (connect to last byte), without its start-up.
  srv=$(for i in $(seq "$N"); do curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$sock" "http://lxd/1.0/instances?recursion=2"; done | awk '{print int($1 * 1000000)}' | median)
  echo "run $r: GET /1.0/instances?recursion=2, $NLIST running: $rec2 ms (median of $N, whole curl process; $srv ms request only);" \
    "daemon RSS $(rss "$PID"), $(threads "$PID") threads"
done

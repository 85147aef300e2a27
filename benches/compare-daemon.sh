#!/usr/bin/env bash
# The daemon against the real LXD 5.0.2, same run, same client (Debian's lxc 5.0.2), same
# busybox image: launch (dir and btrfs), GET /1.0/instances?recursion=2 with 20 running,
# deleting 20 running at once, daemon RSS with 20 running, daemon start to ready.
# Run as root from the repository's root:   benches/compare-daemon.sh
# Builds the daemon in release mode first. The real LXD comes from
# ../shared/tools/lxd-anchor/run.sh (installed and started by hand under /tmp/lxd-anchor).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ANCHOR_SH=${ANCHOR_SH:-$(realpath ../shared/tools/lxd-anchor/run.sh)}
N=${N:-5}
NLIST=${NLIST:-20}
export ANCHOR=${ANCHOR:-/tmp/lxd-anchor}
OUT=$(mktemp -d /tmp/lxd-cmp.XXXXXX)
RS_DIR=$OUT/rs
RS_PID=""
cleanup() {
  if [ -n "$RS_PID" ]; then
    LXD_DIR=$RS_DIR LXD_CONF=$OUT/rs-client lxc delete -f $(LXD_DIR=$RS_DIR LXD_CONF=$OUT/rs-client lxc list -c n -f csv 2>/dev/null) >/dev/null 2>&1 || true
    for p in $(LXD_DIR=$RS_DIR LXD_CONF=$OUT/rs-client lxc image list -c f -f csv 2>/dev/null); do
      LXD_DIR=$RS_DIR LXD_CONF=$OUT/rs-client lxc image delete "$p" >/dev/null 2>&1 || true; done
    printf 'config: {}\ndescription: Default LXD profile\ndevices: {}\n' | LXD_DIR=$RS_DIR LXD_CONF=$OUT/rs-client lxc profile edit default >/dev/null 2>&1 || true
    for p in dir bt; do LXD_DIR=$RS_DIR LXD_CONF=$OUT/rs-client lxc storage delete "$p" >/dev/null 2>&1 || true; done
    kill "$RS_PID" 2>/dev/null || true; wait "$RS_PID" 2>/dev/null || true
  fi
  LXD_DIR=$ANCHOR/lxd LXD_CONF=$ANCHOR/client bash "$ANCHOR_SH" stop clean >/dev/null 2>&1 || true
  awk -v d="$OUT/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l || true
  rm -rf "$OUT"
}
trap cleanup EXIT

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

cargo build -q --release -p lxd-daemon
LXD_RS=$PWD/target/release/lxd

measure() {  # $1 = label (lxd|rs); env LXD_DIR/LXD_CONF point at the daemon; $2 = daemon pid
  local label=$1 pid=$2 i
  for i in $(seq "$N"); do ms lxc launch bb "l$i" -s dir; done | median > "$OUT/$label.launch_dir"
  for i in $(seq "$N"); do ms lxc launch bb "b$i" -s bt; done | median > "$OUT/$label.launch_bt"
  lxc delete -f $(lxc list -c n -f csv) >/dev/null
  for i in $(seq "$NLIST"); do lxc launch bb "m$i" -s bt >/dev/null; done
  local sock=$LXD_DIR/unix.socket
  for i in $(seq "$N"); do ms curl -s --unix-socket "$sock" "http://lxd/1.0/instances?recursion=2"; done | median > "$OUT/$label.rec2"
  rss_kb "$pid" > "$OUT/$label.rss"
  ms lxc delete -f $(lxc list -c n -f csv) | awk '{printf "%.1f", $1/1000}' > "$OUT/$label.del20"
}

# The real LXD.
bash "$ANCHOR_SH" install start init images
LXD_DIR=$ANCHOR/lxd LXD_CONF=$ANCHOR/client
export LXD_DIR LXD_CONF
lxc delete -f $(lxc list -c n -f csv) >/dev/null 2>&1 || true
cat "$ANCHOR/daemon-ready-ms" > "$OUT/lxd.ready"
measure lxd "$(cat "$ANCHOR/lxd.pid")"
IMG=$ANCHOR/build/bb.tar.xz
bash "$ANCHOR_SH" stop clean

# lxd-rs, same image, same pools.
mkdir -p "$RS_DIR" "$OUT/rs-client"
export LXD_DIR=$RS_DIR LXD_CONF=$OUT/rs-client
t0=$(date +%s%N)
"$LXD_RS" --group root --logfile "$OUT/rs.log" & RS_PID=$!
"$LXD_RS" waitready --timeout 30
t1=$(date +%s%N)
echo $(( (t1 - t0) / 1000000 )) > "$OUT/rs.ready"
printf 'storage_pools:\n- name: dir\n  driver: dir\n- name: bt\n  driver: btrfs\n  config:\n    size: 10GiB\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: dir\n      type: disk\n' | "$LXD_RS" init --preseed
lxc image import "$IMG" --alias bb >/dev/null
measure rs "$RS_PID"

row() { awk -v o="$1" -v a="$2" -v b="$3" -v u="$4" 'BEGIN {printf "| %s | %s %s | %s %s | %.1f× |\n", o, a, u, b, u, a / b}'; }
printf '\n| operation | LXD 5.0.2 | lxd-rs | ratio |\n|---|---|---|---|\n'
row "lxc launch busybox (dir)" "$(cat "$OUT/lxd.launch_dir")" "$(cat "$OUT/rs.launch_dir")" ms
row "lxc launch busybox (btrfs)" "$(cat "$OUT/lxd.launch_bt")" "$(cat "$OUT/rs.launch_bt")" ms
row "GET /1.0/instances?recursion=2, $NLIST running" "$(cat "$OUT/lxd.rec2")" "$(cat "$OUT/rs.rec2")" ms
row "lxc delete -f of $NLIST running" "$(cat "$OUT/lxd.del20")" "$(cat "$OUT/rs.del20")" ms
row "daemon RSS, $NLIST running" "$(( $(cat "$OUT/lxd.rss") / 1024 ))" "$(( $(cat "$OUT/rs.rss") / 1024 ))" MB
row "daemon start to ready" "$(cat "$OUT/lxd.ready")" "$(cat "$OUT/rs.ready")" ms

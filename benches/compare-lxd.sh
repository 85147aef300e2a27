#!/usr/bin/env bash
# Runs the same storage operations against the real LXD 5.0.2 and against lxd-rs in one run,
# on the same pool kinds (dir on the root ext4, btrfs on a loop file), and prints the ratio per
# operation. Run as root from the repository's root:
#     benches/compare-lxd.sh
# The real LXD is driven by ../shared/tools/lxd-anchor/run.sh (installs Debian's lxd 5.0.2,
# starts it by hand under /tmp/lxd-anchor, builds and imports its busybox and Debian images);
# its figures are wall-clock times of `lxc` commands (they include the client's start-up,
# 15-35 ms), lxd-rs's are the library calls (`LXD_BENCH_QUICK=1 cargo bench --bench storage`).
# Neither side deletes anything while measuring (see benches/storage.rs for why).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ANCHOR_SH=${ANCHOR_SH:-$(realpath ../shared/tools/lxd-anchor/run.sh)}
N=${N:-5}
export ANCHOR=${ANCHOR:-/tmp/lxd-anchor}
export LXD_DIR=$ANCHOR/lxd LXD_CONF=$ANCHOR/client
OUT=$(mktemp -d /tmp/lxd-compare.XXXXXX)
trap 'bash "$ANCHOR_SH" stop clean >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }

bash "$ANCHOR_SH" install start init images
left=$(lxc list -c n -f csv)
[ -z "$left" ] || lxc delete -f $left
sync

# The real LXD: pool "dir" (dir on the root fs) and "bt" (btrfs on a loop file).
for pool in dir bt; do
  kind=$([ "$pool" = dir ] && echo dir-ext4 || echo btrfs)
  for img in bb deb; do
    name=$([ "$img" = bb ] && echo busybox || echo debian)
    lxc init "$img" "$img-first-$pool" -s "$pool" >/dev/null           # puts the image on the pool
    lxc init "$img" "$img-snapsrc-$pool" -s "$pool" >/dev/null
    lxc init "$img" "$img-copysrc-$pool" -s "$pool" >/dev/null
    lxc snapshot "$img-copysrc-$pool" snap0
    for i in $(seq "$N"); do ms lxc snapshot "$img-snapsrc-$pool" "s$i"; done | median > "$OUT/a"
    printf 'snapshot %s %s\t%s\n' "$name" "$kind" "$(cat "$OUT/a")" >> "$OUT/lxd.tsv"
    for i in $(seq "$N"); do ms lxc copy "$img-copysrc-$pool" "$img-copy$i-$pool"; done | median > "$OUT/a"
    printf 'copy %s (with 1 snapshot) %s\t%s\n' "$name" "$kind" "$(cat "$OUT/a")" >> "$OUT/lxd.tsv"
    for i in $(seq "$N"); do ms lxc init "$img" "$img-new$i-$pool" -s "$pool"; done | median > "$OUT/a"
    printf 'new instance of %s (image on pool) %s\t%s\n' "$name" "$kind" "$(cat "$OUT/a")" >> "$OUT/lxd.tsv"
  done
done
bash "$ANCHOR_SH" stop clean

# lxd-rs, same operations, same run, on the same pool kinds. Each side starts with the
# other's writes (and LXD's deletes) flushed, so neither measures the other's writeback.
sync
LXD_BENCH_KINDS=dir-ext4,btrfs LXD_BENCH_QUICK=1 cargo bench -q -p lxd-benches --bench storage 2>/dev/null | grep -P '\t' > "$OUT/rs.tsv"

printf '\n| operation | LXD 5.0.2 (lxc, ms) | lxd-rs (ms) | ratio |\n|---|---|---|---|\n'
while IFS=$'\t' read -r op lxd; do
  rs=$(awk -F'\t' -v o="$op" '$1 == o {print $2}' "$OUT/rs.tsv")
  [ -n "$rs" ] || continue
  awk -v o="$op" -v a="$lxd" -v b="$rs" 'BEGIN {printf "| %s | %.1f | %.1f | %.1f× |\n", o, a, b, a / b}'
done < "$OUT/lxd.tsv"

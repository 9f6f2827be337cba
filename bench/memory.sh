#!/bin/bash
# bench/memory.sh: where network-broker's memory goes, in the lab (docs/benchmarks.md,
# "Memory, 2026-12-03"). It measures; it does not pass or fail.
#
#   sudo bench/memory.sh [--bin PATH] [--addr-batches N] [--links N] [--wrap 'CMD ARGS'] [--out DIR]
#
# Starts the daemon in the lab (as bench/dispatch.sh does: networkd as the source, no startup
# triggers), then prints /proc/PID/status's VmRSS, VmHWM, RssAnon, RssFile and the thread count
#   idle       once the daemon is idle with the lab's own links;
#   addr1/addrN after the first and the last of N batches of 10,000 address events on one
#              veth (5,000 add, 5,000 del), as dispatch.sh's step 5;
#   links      with N veth pairs (created 512 at a time, an address each), and the time until
#              the daemon was idle;
#   deleted    once they are deleted again.
# DIR gets /proc/PID/smaps at idle and with the links (smaps.idle, smaps.links) and, summed by
# mapping, smaps.*.sum (KiB resident, KiB anonymous, mapping). --wrap runs the daemon under a
# tool, e.g. --wrap 'heaptrack -o DIR/heap' (then `heaptrack_print DIR/heap.zst`).
#
# The lab: LAB_DIR and LAB_NS_PREFIX as for tests/lab/netlab.sh (default /tmp/nb-memory, nbx);
# brought up if it is not, and taken down again at the end only then.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
LAB=$TOP/tests/lab/netlab.sh
export LAB_DIR=${LAB_DIR:-/tmp/nb-memory}
export LAB_NS_PREFIX=${LAB_NS_PREFIX:-nbx}
BIN=${CARGO_TARGET_DIR:-$TOP/target}/release/network-broker
ADDR_BATCHES=10
LINKS=4096
WRAP=""
OUT=""
while [ $# -gt 0 ]; do
    case $1 in
        --bin) BIN=${2:?}; shift 2 ;;
        --addr-batches) ADDR_BATCHES=${2:?}; shift 2 ;;
        --links) LINKS=${2:?}; shift 2 ;;
        --wrap) WRAP=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        *) echo "usage: $0 [--bin PATH] [--addr-batches N] [--links N] [--wrap 'CMD ARGS'] [--out DIR]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "memory.sh: run as root (the lab builds network namespaces)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "memory.sh: no daemon at $BIN (cargo build --release, or --bin)" >&2; exit 1; }
[[ $ADDR_BATCHES =~ ^[0-9]+$ && $LINKS =~ ^[0-9]+$ && $LINKS -le 8192 ]] \
    || { echo "memory.sh: --addr-batches and --links (at most 8192) take integers" >&2; exit 2; }

WORK=$(mktemp -d /tmp/nb-memory-work.XXXXXX)
chmod 0755 "$WORK"
OUT=${OUT:-$WORK}
mkdir -p "$OUT"
LAB_STARTED=0
PID=""
LINKS_MADE=0
ADDR_MADE=0
cleanup() {
    if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; fi
    if [ "$LINKS_MADE" = 1 ]; then ip -n "$NS_HOST" link del group 4244 2>/dev/null || true; fi
    if [ "$ADDR_MADE" = 1 ]; then ip -n "$NS_HOST" link del nbmemaddr 2>/dev/null || true; fi
    if [ "$LAB_STARTED" = 1 ]; then "$LAB" down >/dev/null 2>&1 || true; fi
    if [ "$OUT" != "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ ! -e "$LAB_DIR/run/lab.env" ]; then
    LAB_STARTED=1
    "$LAB" up >/dev/null
fi
# shellcheck disable=SC1091
. "$LAB_DIR/run/lab.env"
NS_HOST=$LAB_NETNS_HOST
NS_PEER=$LAB_NETNS_PEER

install -d -m 0755 "$WORK/nb" "$WORK/nb/routable.d"
printf '#!/bin/sh\ntrue\n' >"$WORK/nb/routable.d/50-memory"
chmod 0755 "$WORK/nb/routable.d/50-memory"
cat >"$WORK/nb/network-broker.yaml" <<EOF
System:
  Generator: systemd-networkd
  StartupTriggers: false
  RuntimeDirectory: /run/nb-memory-$$
EOF

# shellcheck disable=SC2086 # WRAP is a command line
"$LAB" exec $WRAP "$BIN" --config-dir "$WORK/nb" >"$OUT/daemon.log" 2>&1 &
PID=$!
if [ -n "$WRAP" ]; then
    # the daemon is the tool's child: the newest process running this binary with this config
    for _ in $(seq 1 100); do
        PID=$(pgrep -n -f -- "^$BIN --config-dir $WORK/nb" || true)
        [ -n "$PID" ] && break
        sleep 0.1
    done
    [ -n "$PID" ] || { echo "memory.sh: the daemon did not start under $WRAP" >&2; exit 1; }
fi

# until the daemon has used no CPU for 1 s (utime + stime unchanged over 4 samples)
quiet() {
    local last="" cur same=0
    for _ in $(seq 1 2400); do
        cur=$(cut -d' ' -f14,15 "/proc/$PID/stat")
        if [ "$cur" = "$last" ]; then
            same=$((same + 1))
            [ "$same" -ge 4 ] && return 0
        else
            same=0
        fi
        last=$cur
        sleep 0.25
    done
}
row() {
    printf '%-8s %s threads=%s\n' "$1" \
        "$(awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/ {printf "%s %s kB  ", $1, $2}' "/proc/$PID/status")" \
        "$(ls "/proc/$PID/task" | wc -l)"
}
smaps() {
    cp "/proc/$PID/smaps" "$OUT/smaps.$1"
    awk '/^[0-9a-f]+-[0-9a-f]+ / {m = ($6 == "") ? "[anon]" : $6}
         /^Rss:/ {r[m] += $2} /^Anonymous:/ {a[m] += $2}
         END {for (m in r) if (r[m] > 0) printf "%7d %7d %s\n", r[m], a[m], m}' \
        "$OUT/smaps.$1" | sort -rn >"$OUT/smaps.$1.sum"
}

sleep 2
quiet; row idle; smaps idle
if [ "$ADDR_BATCHES" -gt 0 ]; then
    ip link add nbmemaddr netns "$NS_HOST" type veth peer name nbmemaddrp netns "$NS_PEER"
    ADDR_MADE=1
    for ((j = 0; j < 5000; j++)); do echo "address add 10.150.$((j / 250)).$((j % 250 + 1))/32 dev nbmemaddr"; done >"$WORK/addr.batch"
    for ((j = 0; j < 5000; j++)); do echo "address del 10.150.$((j / 250)).$((j % 250 + 1))/32 dev nbmemaddr"; done >>"$WORK/addr.batch"
    for ((i = 1; i <= ADDR_BATCHES; i++)); do
        ip -n "$NS_HOST" -batch "$WORK/addr.batch"
        if [ "$i" = 1 ]; then quiet; row addr1; fi
    done
    quiet; row "addr$ADDR_BATCHES"
    ip -n "$NS_HOST" link del nbmemaddr
    ADDR_MADE=0
    quiet
fi
if [ "$LINKS" -gt 0 ]; then
    t0=$(date +%s%N)
    LINKS_MADE=1
    for ((i = 0; i < LINKS; i += 512)); do
        n=$(( i + 512 < LINKS ? i + 512 : LINKS ))
        for ((j = i; j < n; j++)); do echo "link add nbm$j netns $NS_HOST group 4244 type veth peer name nbm${j}p netns $NS_PEER"; done | ip -batch -
        for ((j = i; j < n; j++)); do echo "address add 10.$((100 + j / 250)).$((j % 250)).1/32 dev nbm$j"; done | ip -n "$NS_HOST" -batch -
    done
    quiet
    echo "links: idle $(( ($(date +%s%N) - t0) / 1000000 )) ms after the first ip -batch"
    row links; smaps links
    ip -n "$NS_HOST" link del group 4244
    LINKS_MADE=0
    quiet; row deleted
fi
kill -TERM "$PID"
while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
PID=""
echo "smaps and the daemon's log: $OUT"

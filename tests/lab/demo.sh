#!/bin/bash
# demo.sh - network-broker doing its job in a sandboxed lab (network namespaces, a private
# system bus; the host's network, /etc and host name are never touched).
#
# It starts the lab, runs the daemon inside it with a hook in routes-modified.d and
# network-brokerctl monitor beside it, creates a link, adds an address, and shows what
# happened: the hook's output, the daemon's view (network-brokerctl links and link) and the
# first monitor lines. Everything it started is stopped at the end.
#
#   LAB_DIR, LAB_NS_PREFIX   the lab's directory and namespace prefix (tests/lab/netlab.sh);
#                            by default unique to this run (/tmp/network-broker-demo-PID,
#                            nbdPID), so the demo never clashes with another lab on the machine.
#                            A default LAB_DIR is removed at the end; a given one is kept.
#   CARGO_TARGET_DIR         where the debug build is (default: target/ of the repository)
#   NO_COLOR                 no bold headings (nor colour from network-brokerctl)
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
STARTED=$(date +%s%N)
KEEP_LAB_DIR=${LAB_DIR:+1}
export LAB_DIR=${LAB_DIR:-/tmp/network-broker-demo-$$}
export LAB_NS_PREFIX=${LAB_NS_PREFIX:-nbd$$}
LAB="$TOP/tests/lab/netlab.sh"
TARGET=${CARGO_TARGET_DIR:-target}
case "$TARGET" in /*) ;; *) TARGET=$TOP/$TARGET ;; esac
BIN="$TARGET/debug"
CTL=("$BIN/network-brokerctl" --no-pager)
DEMO="$LAB_DIR/demo"
# The lab caches the systemd-resolved package it fetches under LAB_DIR/cache: one cache for
# every demo run, so that a fresh LAB_DIR does not fetch it again.
SHARED_CACHE=/tmp/network-broker-demo-cache

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-}" != dumb ]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
[ -x "$BIN/network-broker" ] || { echo "demo.sh: no $BIN/network-broker: build first (make build-debug)" >&2; exit 1; }

DAEMON_PID=""
MONITOR_PID=""
cleanup() {
    [ -n "$MONITOR_PID" ] && kill "$MONITOR_PID" 2>/dev/null || true
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    "$LAB" down >/dev/null 2>&1 || true
    [ -n "$KEEP_LAB_DIR" ] || rm -rf "$LAB_DIR"
}
trap cleanup EXIT

say "starting the lab (namespaces ${LAB_NS_PREFIX}host and ${LAB_NS_PREFIX}peer, private dbus-daemon, systemd-networkd, ...)"
if [ -z "$KEEP_LAB_DIR" ]; then
    mkdir -p "$SHARED_CACHE" "$LAB_DIR"
    ln -sfn "$SHARED_CACHE" "$LAB_DIR/cache"
else
    "$LAB" down >/dev/null 2>&1 || true
fi
"$LAB" up

rm -rf "$DEMO"
mkdir -p "$DEMO/etc/routes-modified.d"
cat >"$DEMO/etc/network-broker.yaml" <<'YAML'
System:
  LogLevel: info
  Generator: netlink
Network:
  EmitJSON: true
YAML
cat >"$DEMO/etc/routes-modified.d/50-show" <<'HOOK'
#!/bin/sh
# A demo hook: print what it was given. Its output goes to the daemon's log, tagged.
echo "routes of $LINK (index $LINKINDEX) changed; event=$EVENT"
echo "JSON: $JSON"
HOOK
chmod 0755 "$DEMO/etc/routes-modified.d/50-show"

say "starting network-broker inside the lab"
"$LAB" exec "$BIN/network-broker" --config-dir "$DEMO/etc" >"$DEMO/daemon.log" 2>&1 &
DAEMON_PID=$!
# Ready when the client gets an answer (exit 6 until the daemon owns its name); stop at once
# if the daemon exited.
ready=""
for _ in $(seq 200); do
    if "$LAB" exec "${CTL[@]}" --json=short status >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$ready" ]; then
    echo "demo.sh: network-broker did not come up; its log:" >&2
    tail -n 20 "$DEMO/daemon.log" >&2
    exit 1
fi
"$LAB" exec "${CTL[@]}" status

"$LAB" exec "${CTL[@]}" monitor >"$DEMO/monitor.log" 2>&1 &
MONITOR_PID=$!
# The monitor announces nothing when it is subscribed; give it a moment to be.
sleep 0.3

say "creating link demo0 and adding 192.0.2.10/24"
"$LAB" exec ip link add demo0 type veth peer name demo0p
"$LAB" exec ip link set demo0 up
"$LAB" exec ip link set demo0p up
"$LAB" exec ip addr add 192.0.2.10/24 dev demo0
for _ in $(seq 50); do
    grep -q 'routes of demo0' "$DEMO/daemon.log" && break
    sleep 0.1
done

say "the daemon's view (network-brokerctl links)"
"$LAB" exec "${CTL[@]}" links

say "the hook ran (daemon log)"
grep -E 'routes of demo0 ' "$DEMO/daemon.log" || echo "(hook output not seen yet)"
grep -E 'hook=50-show' "$DEMO/daemon.log" | grep -o 'JSON: {"Index":[0-9]*,"Name":"demo0",.\{0,160\}' | head -n 1 | sed 's/$/.../' || true

say "one link (network-brokerctl link demo0)"
"$LAB" exec "${CTL[@]}" link demo0

say "the first events network-brokerctl monitor printed"
grep -E ' demo0 (LinkAdded|OperationalState|AddressAdded|RoutesModified)' "$DEMO/monitor.log" | head -n 8 || echo "(no monitor lines seen)"

"$LAB" exec ip link del demo0
elapsed=$(( ($(date +%s%N) - STARTED) / 1000000 ))
if [ -n "$KEEP_LAB_DIR" ]; then
    say "done in $((elapsed / 1000)).$(printf %03d $((elapsed % 1000))) s; logs are in $DEMO/"
else
    say "done in $((elapsed / 1000)).$(printf %03d $((elapsed % 1000))) s (set LAB_DIR to keep the logs)"
fi

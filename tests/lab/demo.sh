#!/bin/bash
# demo.sh - network-broker doing its job in a sandboxed lab (network namespaces, a private
# system bus; the host's network, /etc and host name are never touched).
#
# It starts the lab, runs the daemon inside it with a hook in routes-modified.d, creates a
# link, adds an address, and shows what happened: the hook's output, the bus signals and the
# daemon's view through network-brokerctl. Everything it started is stopped at the end.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
export LAB_DIR=${LAB_DIR:-/tmp/network-broker-demo}
LAB="$TOP/tests/lab/netlab.sh"
BIN="$TOP/target/debug"
DEMO="$LAB_DIR/demo"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
[ -x "$BIN/network-broker" ] || { echo "demo.sh: build first (make build-debug)" >&2; exit 1; }

DAEMON_PID=""
MONITOR_PID=""
cleanup() {
    [ -n "$MONITOR_PID" ] && kill "$MONITOR_PID" 2>/dev/null || true
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    "$LAB" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "starting the lab (namespaces, private dbus-daemon, systemd-networkd, ...)"
"$LAB" down >/dev/null 2>&1 || true
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
"$LAB" exec busctl --system monitor --match "type='signal',sender='org.freedesktop.NetworkBroker1'" \
    >"$DEMO/signals.log" 2>&1 &
MONITOR_PID=$!
"$LAB" exec "$BIN/network-broker" --config-dir "$DEMO/etc" >"$DEMO/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
    "$LAB" exec busctl --system status org.freedesktop.NetworkBroker1 >/dev/null 2>&1 && break
    sleep 0.1
done
"$LAB" exec "$BIN/network-brokerctl" status

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
"$LAB" exec "$BIN/network-brokerctl" links

say "the hook ran (daemon log)"
grep -E 'routes of demo0 ' "$DEMO/daemon.log" || echo "(hook output not seen yet)"
grep -E 'hook=50-show' "$DEMO/daemon.log" | grep -o 'JSON: {"Index":[0-9]*,"Name":"demo0",.\{0,160\}' | head -n 1 | sed 's/$/.../'

say "bus signals seen by busctl monitor"
grep -oE 'Path=[^ ]*  Interface=[^ ]*  Member=(LinkAdded|LinkRemoved|PropertiesChanged|HooksCompleted)' \
    "$DEMO/signals.log" | sort | uniq -c || true

"$LAB" exec ip link del demo0
sleep 0.3
say "done; logs are in $DEMO/"

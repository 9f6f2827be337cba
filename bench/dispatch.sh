#!/bin/bash
# bench/dispatch.sh - network-broker against networkd-dispatcher, in the project's lab.
#
#   sudo bench/dispatch.sh [--runs N] [--toggles N] [--links N] [--parallel N]
#                          [--idle-secs N] [--addr-events N] [--scale-links N]
#                          [--bin PATH] [--keep-data DIR] [--perf DIR] [--executor]
#                          [--peer-bin PATH] [--sched DIR]
#
# Both daemons run by hand inside the lab (tests/lab/netlab.sh: network namespaces, a private
# system bus, the real systemd-networkd), one after the other, never at the same time, with the
# same hook in routable.d.  Each round measures each daemon once; rounds alternate which daemon
# goes first.  At the end one table is printed (stdout): medians over the rounds, ratios
# peer/ours.  docs/benchmarks.md says what every row measures and how.
#
#   1. latency: labnd1's peer goes down and up (--toggles times per round and daemon): time
#      from networkd's PropertiesChanged(OperationalState=routable) for labnd1 -- the kernel's
#      receive timestamp at a `busctl monitor` in the lab -- to the first line of the hook
#      (`date +%s%N`).  Median and p95 over all toggles of all rounds.
#   2. burst: --links (200) veth pairs bnb0..: networkd-managed ends in the lab host with a
#      static address each, peers (down) in the lab's peer netns.  All peers go up in one
#      `ip -batch`: time from the first networkd signal about any of them to the first line of
#      the last routable.d hook; hooks counted (each link exactly once).
#   3. parallelism: --parallel (20) more such links (bnp0..), whose hook sleeps 0.2 s: time from
#      the first signal to the end of the last hook, and how many hooks ran at once.
#   4. the daemon's VmRSS after the burst, and its CPU time (utime+stime, /proc/PID/stat) during
#      the burst, alone and with the children it waited for (hooks; networkctl for the peer);
#      its VmRSS once idle after the start and its VmHWM (peak) at the end of the round.
#   5. once per daemon after the rounds, in a fresh process: CPU ticks while idle (--idle-secs),
#      --addr-events address add/delete events on one veth, down (VmRSS after the first 10,000
#      and after all), and --scale-links veth pairs created in batches of 512 (time until the
#      daemon is idle again, VmRSS, VmHWM, and for network-broker whether its bus objects equal
#      `ip -j addr` in the lab).
#   0. before the bench links exist: each daemon once, idle, with only the lab's own links (VmRSS).
#   --perf DIR: `perf record` network-broker in round 1 (toggles, burst) and its scale step into
#   DIR; bench/perf-top.py prints the top entries.
#   --sched DIR: the kernel's fork and exec events (system-wide tracepoints, with the clock's
#   offset to realtime)
#   during network-broker's toggles in round 1, into DIR/toggles-sched.data; then
#   bench/latency-split.py DIR/toggles-sched.data WORK (with --keep-data WORK) splits each
#   toggle's latency at the daemon's log line, its spawn of the hook, the hook's exec, and the
#   exec of the hook's `date`.
#   --executor: the cost of the hook executor (docs/hooks.md, "Who runs hooks"). The peer is
#   network-broker running its hooks itself, "ours" is network-broker handing them to
#   network-broker-executor (started in the lab with --listen, as systemd would on its socket),
#   the packaged way; the same rows 1-4 in one run, with the latency difference, and no step 5.
#   --peer-bin PATH: the peer is network-broker too, the build at PATH (another commit), with the
#   same configuration: before/after of a change in one run, every row side by side. With
#   --perf, the peer is profiled as well (peer-toggles, peer-burst, peer-scale).
#
# The lab: LAB_DIR (default /tmp/nb-bench) and LAB_NS_PREFIX (default bn).  When that lab is
# already up it is reused and left up; otherwise the script brings it up and down again.
# Everything the script creates (links, .network files, its work dir, the daemons, the bus
# monitor) is removed at the end, also on failure or ^C; processes are stopped by PID only.
#
# networkd-dispatcher is installed with apt-get when missing (see ensure_dispatcher: its
# postinst must not start it, and the unit is left disabled).  It is never started by the
# host's service manager, only by this script inside the lab, with -S pointing at a temporary
# script dir.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB="$TOP/tests/lab/netlab.sh"
export LAB_DIR=${LAB_DIR:-/tmp/nb-bench}
export LAB_NS_PREFIX=${LAB_NS_PREFIX:-bn}
RUN=$LAB_DIR/run
PY=/usr/bin/python3

RUNS=3
TOGGLES=20
NBURST=200
NPAR=20
IDLE_SECS=60
ADDR_EVENTS=100000
SCALE_LINKS=4096
PERF_DIR=""
SCHED_DIR=""
SCHED_PID=""
NB_BIN=${NB_BIN:-${CARGO_TARGET_DIR:-$TOP/target}/release/network-broker}
KEEP_DATA=""
EXECUTOR=0
PEER_BIN=""

usage() {
    sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=${2:?}; shift 2 ;;
        --toggles) TOGGLES=${2:?}; shift 2 ;;
        --links) NBURST=${2:?}; shift 2 ;;
        --parallel) NPAR=${2:?}; shift 2 ;;
        --bin) NB_BIN=${2:?}; shift 2 ;;
        --keep-data) KEEP_DATA=${2:?}; shift 2 ;;
        --idle-secs) IDLE_SECS=${2:?}; shift 2 ;;
        --addr-events) ADDR_EVENTS=${2:?}; shift 2 ;;
        --scale-links) SCALE_LINKS=${2:?}; shift 2 ;;
        --perf) PERF_DIR=${2:?}; shift 2 ;;
        --sched) SCHED_DIR=${2:?}; mkdir -p "$SCHED_DIR"; shift 2 ;;
        --executor) EXECUTOR=1; shift ;;
        --peer-bin) PEER_BIN=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "dispatch.sh: unknown argument $1" >&2; usage ;;
    esac
done
for n in "$RUNS" "$TOGGLES" "$NBURST" "$NPAR"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "dispatch.sh: counts must be positive integers" >&2; exit 2; }
done
for n in "$IDLE_SECS" "$ADDR_EVENTS" "$SCALE_LINKS"; do   # 0 leaves the step out
    [[ $n =~ ^[0-9]+$ ]] || { echo "dispatch.sh: --idle-secs, --addr-events, --scale-links take integers" >&2; exit 2; }
done
if [ "$SCALE_LINKS" -gt 8192 ] || [ "$ADDR_EVENTS" -gt 1000000 ]; then
    echo "dispatch.sh: at most 8192 scale links and 1,000,000 address events" >&2; exit 2
fi
if [ "$NBURST" -gt 1000 ] || [ "$NPAR" -gt 200 ]; then
    echo "dispatch.sh: at most 1000 burst links and 200 parallel links" >&2; exit 2
fi

EXEC_BIN=$(dirname "$NB_BIN")/network-broker-executor
if [ "$EXECUTOR" = 1 ]; then
    # what step 5 measures is the daemon alone, which the executor does not change
    IDLE_SECS=0; ADDR_EVENTS=0; SCALE_LINKS=0
fi

T_START=$(date +%s%N)
log() { printf '[bench %7.1fs] %s\n' "$(( ($(date +%s%N) - T_START) / 1000000 ))e-3" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s%N; }

[ "$(id -u)" = 0 ] || die "run as root (it builds network namespaces): sudo $0"
[ -x "$NB_BIN" ] || die "no release build at $NB_BIN: run 'cargo build --release' (or make bench), or pass --bin PATH"
[ -x "$PY" ] || die "$PY is missing (Debian package python3)"
[ "$EXECUTOR" = 0 ] || [ -x "$EXEC_BIN" ] || die "--executor: no $EXEC_BIN (cargo build --release)"
[ -z "$PEER_BIN" ] || [ -x "$PEER_BIN" ] || die "--peer-bin: no executable $PEER_BIN"
[ -z "$PEER_BIN" ] || [ "$EXECUTOR" = 0 ] || die "--peer-bin and --executor exclude each other"
command -v stdbuf >/dev/null || die "stdbuf is missing (Debian package coreutils)"
if [ -n "$PERF_DIR" ]; then
    command -v perf >/dev/null || die "--perf needs perf (Debian package linux-perf)"
    mkdir -p "$PERF_DIR"
fi

# ---------------------------------------------------------------------------------------------
# cleanup state: everything below is undone by cleanup(), whatever happened
WORK=""
LAB_STARTED=0
DAEMON_PID=""
EXEC_PID=""
MONITOR_PID=""
PERF_PID=""
SAMPLER_PID=""
LINKS_CREATED=0
SCALE_CREATED=0
ADDR_LINK_CREATED=0
NETWORK_FILES=()
POLICY_RC_CREATED=0
# network-broker's RuntimeDirectory, inside the lab: on its /run, a tmpfs as /run is on a real
# system (on the disk the work dir is on, each save of the daemon's small state file costs an
# ext4 rename with writeback: a sixth of the daemon's CPU in a burst)
NB_RUNTIME=/run/nb-bench-$$
GROUP=4242                     # link group used to delete the bench links in one go
SCALE_GROUP=4243               # the same for the scale links
ADDR_LINK=bnaddr               # the link of the address events (a veth, down)

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    perf_stop
    sched_stop
    sampler_stop
    stop_daemon
    if [ -n "$MONITOR_PID" ]; then kill -TERM "$MONITOR_PID" 2>/dev/null; wait "$MONITOR_PID" 2>/dev/null; fi
    if [ "$LINKS_CREATED" = 1 ] && [ -e "/run/netns/$NS_HOST" ]; then
        # one `ip link del group` instead of one delete per link: veth deletes are ~16 ms each
        bench_links | sed "s/.*/link set & group $GROUP/" | ip -n "$NS_HOST" -force -batch - 2>/dev/null
        ip -n "$NS_HOST" link del group "$GROUP" 2>/dev/null
    fi
    if [ "$SCALE_CREATED" = 1 ] && [ -e "/run/netns/$NS_HOST" ]; then ip -n "$NS_HOST" link del group "$SCALE_GROUP" 2>/dev/null; fi
    if [ "$ADDR_LINK_CREATED" = 1 ] && [ -e "/run/netns/$NS_HOST" ]; then ip -n "$NS_HOST" link del "$ADDR_LINK" 2>/dev/null; fi
    if [ ${#NETWORK_FILES[@]} -gt 0 ]; then
        rm -f "${NETWORK_FILES[@]}"
        [ "$LAB_STARTED" = 1 ] || "$LAB" exec networkctl reload 2>/dev/null
    fi
    if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    if [ -n "$KEEP_DATA" ] && [ -n "$WORK" ] && [ -d "$WORK" ]; then
        mkdir -p "$KEEP_DATA" && cp -a "$WORK/." "$KEEP_DATA/" && log "raw data kept in $KEEP_DATA"
    fi
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
    case "$NB_RUNTIME" in
        /run/nb-bench-[0-9]*) if [ -n "${NWPID:-}" ] && [ -d "/proc/$NWPID/root$NB_RUNTIME" ]; then rm -rf "/proc/$NWPID/root$NB_RUNTIME"; fi ;;
    esac
    if [ "$LAB_STARTED" = 1 ]; then "$LAB" down >/dev/null 2>&1 || log "WARNING: netlab.sh down failed"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# networkd-dispatcher (Debian package), installed but never started by the service manager
ensure_dispatcher() {
    if [ -x /usr/bin/networkd-dispatcher ]; then return 0; fi
    log "installing networkd-dispatcher (apt-get; the unit is left disabled, nothing is started)"
    # The package's postinst starts the service only when systemd runs as PID 1
    # ([ -d /run/systemd/system ]), through deb-systemd-invoke, which obeys policy-rc.d.
    if [ -d /run/systemd/system ]; then
        if [ -e /usr/sbin/policy-rc.d ]; then
            local prc=0
            /usr/sbin/policy-rc.d networkd-dispatcher.service start >/dev/null 2>&1 || prc=$?
            [ "$prc" = 101 ] || die "systemd runs here and /usr/sbin/policy-rc.d would let the postinst start networkd-dispatcher; install it by hand (and stop it) first"
        else
            printf '#!/bin/sh\n# temporary, from network-broker bench/dispatch.sh: no service starts during the install\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            POLICY_RC_CREATED=1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends --no-upgrade networkd-dispatcher >&2; then
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends --no-upgrade networkd-dispatcher >&2
    fi
    if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=0; fi
    # the postinst enabled the unit (multi-user.target.wants): undo that, so no boot starts it
    # (deb-systemd-helper is the tool the package's own scripts use; it only runs "from dpkg", so it
    # gets the variable dpkg sets; it also records "disabled", so an upgrade does not re-enable it)
    DPKG_MAINTSCRIPT_PACKAGE=networkd-dispatcher deb-systemd-helper disable networkd-dispatcher.service >/dev/null 2>&1 \
        || log "WARNING: could not disable networkd-dispatcher.service (deb-systemd-helper disable)"
    [ -x /usr/bin/networkd-dispatcher ] || die "networkd-dispatcher did not install"
    local p
    for p in /proc/[0-9]*; do
        if grep -qs networkd-dispatcher "$p/cmdline"; then
            log "WARNING: a networkd-dispatcher is running on the host (PID ${p#/proc/}); it was not started by this script"
        fi
    done
}

# ---------------------------------------------------------------------------------------------
# the lab
bench_links() {   # every bench link's name (lab-host end)
    local i
    for ((i = 0; i < NBURST; i++)); do echo "bnb$i"; done
    for ((i = 0; i < NPAR; i++)); do echo "bnp$i"; done
}

NS_HOST=${LAB_NS_PREFIX}host
NS_PEER=${LAB_NS_PREFIX}peer

lab_up() {
    if [ -e "$RUN/lab.env" ]; then
        log "reusing the lab at LAB_DIR=$LAB_DIR (left up afterwards)"
    else
        log "starting the lab (LAB_DIR=$LAB_DIR, LAB_NS_PREFIX=$LAB_NS_PREFIX)"
        LAB_STARTED=1
        "$LAB" up >/dev/null 2>"$LAB_DIR.up.log" || { cat "$LAB_DIR.up.log" >&2; die "netlab.sh up failed"; }
        rm -f "$LAB_DIR.up.log"
    fi
    # shellcheck disable=SC1091
    . "$RUN/lab.env"
    NS_HOST=$LAB_NETNS_HOST
    NS_PEER=$LAB_NETNS_PEER
    export DBUS_SYSTEM_BUS_ADDRESS=$LAB_BUS_HOST
    NWPID=$(cat "$RUN/pids/networkd.pid")
    NETIF=/proc/$NWPID/root/run/systemd/netif/links     # networkd's state files, seen from the host
    [ -d "$NETIF" ] || die "cannot read networkd's state files at $NETIF"
    LABND1_FILE=$NETIF/$(ifindex labnd1)
    local l
    for l in $(bench_links); do
        if ip -n "$NS_HOST" link show "$l" >/dev/null 2>&1; then die "link $l already exists in $NS_HOST"; fi
    done
}

ifindex() { ip -n "$NS_HOST" -o link show "$1" | cut -d: -f1; }

# count_state OPER ADMIN FILE...: how many of networkd's link state files show both states
count_state() {
    local oper=$1 admin=$2; shift 2
    awk -v o="OPER_STATE=$oper" -v a="ADMIN_STATE=$admin" '
        FNR == 1 { if (f > 1) n++; f = 0 }
        $0 == o || $0 == a { f++ }
        END { if (f > 1) n++; print n + 0 }' "$@" 2>/dev/null || echo 0
}

# wait_state OPER ADMIN TIMEOUT_S FILE...: until every file shows both states
wait_state() {
    local oper=$1 admin=$2 tmo=$3; shift 3
    local end=$(( $(date +%s) + tmo )) n
    while :; do
        n=$(count_state "$oper" "$admin" "$@")
        [ "$n" -ge $# ] && return 0
        [ "$(date +%s)" -lt "$end" ] || die "timeout: only $n of $# links are $oper/$admin after ${tmo}s"
        sleep 0.05
    done
}

create_links() {
    local i f
    log "creating $NBURST + $NPAR networkd-managed veth pairs (peers down, in $NS_PEER)"
    for ((i = 0; i < NBURST + NPAR; i++)); do
        if [ "$i" -lt "$NBURST" ]; then f=bnb$i; else f=bnp$((i - NBURST)); fi
        NETWORK_FILES+=("$RUN/network/90-nbbench-$f.network")
        cat >"$RUN/network/90-nbbench-$f.network" <<EOF
# network-broker bench/dispatch.sh (removed at its end)
[Match]
Name=$f

[Link]
RequiredForOnline=no

[Network]
Address=10.$((200 + i / 250)).$((i % 250)).1/24
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
    done
    "$LAB" exec networkctl reload     # networkd reads .network files only at start and on reload
    LINKS_CREATED=1
    bench_links | sed "s/.*/link add & netns $NS_HOST type veth peer name &p netns $NS_PEER/" | ip -batch -
    ALL_FILES=(); BURST_FILES=(); PAR_FILES=(); BURST_PEERS=(); PAR_PEERS=()
    : >"$WORK/ifindex"
    echo "$(ifindex labnd1) labnd1" >>"$WORK/ifindex"
    local l idx
    for l in $(bench_links); do
        idx=$(ifindex "$l")
        echo "$idx $l" >>"$WORK/ifindex"
        ALL_FILES+=("$NETIF/$idx")
        case $l in
            bnb*) BURST_FILES+=("$NETIF/$idx"); BURST_PEERS+=("${l}p") ;;
            bnp*) PAR_FILES+=("$NETIF/$idx"); PAR_PEERS+=("${l}p") ;;
        esac
    done
    wait_state no-carrier configuring 60 "${ALL_FILES[@]}"
    # one cycle before any daemon runs: the first carrier of a link goes configuring ->
    # configured, every later one configured -> configuring -> configured; the rounds must all
    # see the same sequence
    log "priming: every bench link routable once, then down again"
    peers_set up "${BURST_PEERS[@]}" "${PAR_PEERS[@]}"
    wait_state routable configured 120 "${ALL_FILES[@]}"
    peers_set down "${BURST_PEERS[@]}" "${PAR_PEERS[@]}"
    wait_state no-carrier configured 120 "${ALL_FILES[@]}"
}

peers_set() {   # peers_set up|down PEER...: one ip -batch for all of them
    local state=$1; shift
    printf "link set %s $state\n" "$@" | ip -n "$NS_PEER" -batch -
}

# ---------------------------------------------------------------------------------------------
# the bus monitor: networkd's PropertiesChanged with the kernel's receive timestamps (busctl
# negotiates SO_TIMESTAMP; "timestamp-realtime" in µs), line-buffered into a file
start_monitor() {
    "$LAB" exec stdbuf -oL busctl monitor --json=short \
        --match "type='signal',sender='org.freedesktop.network1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'" \
        --match "type='signal',path='/org/netlab/Bench1',interface='org.netlab.Bench1',member='Ready'" \
        >"$WORK/monitor.json" 2>"$WORK/monitor.err" &
    MONITOR_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        busctl --system emit /org/netlab/Bench1 org.netlab.Bench1 Ready >/dev/null 2>&1 || true
        if grep -q '"member":"Ready"' "$WORK/monitor.json" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    die "busctl monitor does not see signals (see $WORK/monitor.err)"
}

# ---------------------------------------------------------------------------------------------
# the daemons
HOOKLOG=""
hook_lines() { wc -l <"$HOOKLOG"; }

write_hooks() {   # the same hook for both daemons: first line takes the time
    local d
    for d in nd nb; do
        install -d -m 0755 "$WORK/$d" "$WORK/$d/routable.d"
        cat >"$WORK/$d/routable.d/50-bench" <<EOF
#!/bin/sh
t=\$(date +%s%N)
case "\${IFACE:-}" in bnp*) sleep 0.2 ;; esac
echo "\$t \$(date +%s%N) \${IFACE:-?} \${STATE:-?}" >>$HOOKLOG
EOF
        chmod 0755 "$WORK/$d/routable.d/50-bench"
    done
    # network-broker: networkd as the source, no startup triggers (networkd-dispatcher runs
    # without -T), everything else at its default (EmitJSON, LogLevel info, ...)
    cat >"$WORK/nb/network-broker.yaml" <<EOF
System:
  Generator: systemd-networkd
  StartupTriggers: false
  RuntimeDirectory: $NB_RUNTIME
EOF
    # --executor: the peer is network-broker too, with the same configuration
    if [ "$EXECUTOR" = 1 ] || [ -n "$PEER_BIN" ]; then cp "$WORK/nb/network-broker.yaml" "$WORK/nd/"; fi
}

# --executor: the hook executor in the lab, serving root (the lab's daemon runs as root) and
# allowed to run the hooks of $WORK/nb only; its socket on the lab's /run.
EXEC_SOCKET=""
start_executor() {
    local i
    EXEC_SOCKET=$NB_RUNTIME/executor.socket
    "$LAB" exec "$EXEC_BIN" --listen "$EXEC_SOCKET" --allow-user root --hook-dir "$WORK/nb" \
        --idle-exit 0 >>"$WORK/executor.log" 2>&1 &
    EXEC_PID=$!
    for ((i = 0; i < 200; i++)); do
        "$LAB" exec test -S "$EXEC_SOCKET" && return 0
        kill -0 "$EXEC_PID" 2>/dev/null || die "the hook executor exited at start (log: $WORK/executor.log)"
        sleep 0.05
    done
    die "the hook executor did not listen on $EXEC_SOCKET"
}

start_daemon() {   # start_daemon nd|nb
    local d=$1 i owner
    case $d/$EXECUTOR in
        nd/0) if [ -n "$PEER_BIN" ]; then
                "$LAB" exec "$PEER_BIN" --config-dir "$WORK/nd" >>"$WORK/nd.log" 2>&1 &
                DAEMON_PID=$!
            else
                "$LAB" exec env PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/bin/networkd-dispatcher -S "$WORK/nd" \
                >>"$WORK/nd.log" 2>&1 &
                DAEMON_PID=$!
            fi ;;
        nd/1) "$LAB" exec "$NB_BIN" --config-dir "$WORK/nd" >>"$WORK/nd.log" 2>&1 &
            DAEMON_PID=$! ;;
        nb/0) "$LAB" exec "$NB_BIN" --config-dir "$WORK/nb" >>"$WORK/nb.log" 2>&1 &
            DAEMON_PID=$! ;;
        nb/1) start_executor
            "$LAB" exec "$NB_BIN" --config-dir "$WORK/nb" --hook-executor "$EXEC_SOCKET" >>"$WORK/nb.log" 2>&1 &
            DAEMON_PID=$! ;;
    esac
    for ((i = 0; i < 300; i++)); do
        kill -0 "$DAEMON_PID" 2>/dev/null || die "$(dname "$d") exited at start (log: $WORK/$d.log)"
        case $d/$EXECUTOR in
            nb/*|nd/1) owner=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                    GetConnectionUnixProcessID s org.freedesktop.NetworkBroker1 2>/dev/null | awk '{print $2}') || true ;;
            nd/0) if [ -n "$PEER_BIN" ]; then owner=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                    GetConnectionUnixProcessID s org.freedesktop.NetworkBroker1 2>/dev/null | awk '{print $2}') || true
                else owner=$(busctl --system list --no-legend --no-pager 2>/dev/null \
                    | awk -v p="$DAEMON_PID" '$1 ~ /^:/ && $2 == p {print p; exit}') || true
                fi ;;
        esac
        [ "$owner" = "$DAEMON_PID" ] && break
        sleep 0.05
    done
    [ "$owner" = "$DAEMON_PID" ] || die "$(dname "$d") did not come onto the bus"
    # warm-up: one full toggle whose hook must run (the daemon has subscribed and is idle)
    toggle labnd1 warm-up || toggle labnd1 warm-up || die "$(dname "$d"): no hook ran for labnd1 (log: $WORK/$d.log)"
}

stop_daemon() {
    [ -n "$DAEMON_PID" ] || return 0
    local i
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=""
    if [ -n "$EXEC_PID" ]; then
        kill -TERM "$EXEC_PID" 2>/dev/null || true
        wait "$EXEC_PID" 2>/dev/null || true
        EXEC_PID=""
    fi
}

dname() {
    case $1/$EXECUTOR in
        nd/0) if [ -n "$PEER_BIN" ]; then echo "network-broker, --peer-bin"; else echo networkd-dispatcher; fi ;;
        nd/1) echo "network-broker, hooks in process" ;;
        nb/0) echo network-broker ;;
        nb/1) echo "network-broker, hooks by the executor" ;;
    esac
}

# CPU of the daemon in clock ticks: "self children" (utime+stime, cutime+cstime)
cpu_ticks() {
    local s f
    s=$(<"/proc/$DAEMON_PID/stat")
    s=${s##*) }
    read -r -a f <<<"$s"
    echo "$(( f[11] + f[12] )) $(( f[13] + f[14] ))"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status"; }

# Where the machine's CPUs go during a burst: every 50 ms one line "TIME_NS BUSY TOTAL NETWORKD
# DBUS DAEMON CHILDREN" -- the busy and total ticks of all CPUs (/proc/stat: everything but
# idle and iowait is busy), utime+stime of the lab's networkd and dbus-daemon (their PIDs from
# the lab's run dir), and of the daemon, and the daemon's reaped children (the hooks; for
# networkd-dispatcher also its networkctl). The analysis takes the hook wave's window from it.
# Bash builtins only between the sleeps, so the sampler itself costs one `sleep` per line.
ticks_of() {
    local s f
    T_SELF=0 T_CHILD=0
    if [ -r "/proc/$1/stat" ] && read -r s <"/proc/$1/stat" 2>/dev/null; then
        s=${s##*) }
        read -r -a f <<<"$s"
        T_SELF=$(( f[11] + f[12] )) T_CHILD=$(( f[13] + f[14] ))
    fi
}
sampler_start() {
    local out=$1 nw dbus
    nw=$(cat "$RUN/pids/networkd.pid" 2>/dev/null || echo 0)
    dbus=$(cat "$RUN/pids/dbus.pid" 2>/dev/null || echo 0)
    (
        while :; do
            read -r -a c </proc/stat
            busy=$(( c[1] + c[2] + c[3] + c[6] + c[7] + c[8] ))
            total=$(( busy + c[4] + c[5] ))
            ticks_of "$nw"; n=$T_SELF
            ticks_of "$dbus"; b=$T_SELF
            ticks_of "$DAEMON_PID"
            t=${EPOCHREALTIME/./}
            echo "${t}000 $busy $total $n $b $T_SELF $T_CHILD"
            sleep 0.05
        done
    ) >"$out" &
    SAMPLER_PID=$!
}
sampler_stop() {
    if [ -n "$SAMPLER_PID" ]; then
        kill -TERM "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
        SAMPLER_PID=""
    fi
}

hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$DAEMON_PID/status"; }
# "anon file": VmRSS split into anonymous memory (heap, stacks) and file-backed pages (the binary)
rss_split_kb() { awk '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} /^RssShmem:/ {f += $2} END {print a + 0, f + 0}' "/proc/$DAEMON_PID/status"; }

# wait_quiet [TIMEOUT_S]: until the daemon has used no CPU (itself or reaped children) for 1 s.
# QUIET_SINCE is then the time (ns) of the last sample that still saw CPU used.
QUIET_SINCE=0
wait_quiet() {
    local tmo=${1:-60} last cur same=0 i
    last=$(cpu_ticks)
    QUIET_SINCE=$(now)
    for ((i = 0; i < tmo * 4; i++)); do
        sleep 0.25
        cur=$(cpu_ticks)
        if [ "$cur" = "$last" ]; then
            same=$((same + 1))
            [ "$same" -ge 4 ] && return 0
        else
            same=0; last=$cur; QUIET_SINCE=$(now)
        fi
    done
    log "WARNING: the daemon did not go idle within $tmo s"
}

# --perf: sample network-broker with call graphs (DWARF unwinding: a release build has no frame
# pointers) until perf_stop; perf_start NAME writes $PERF_DIR/NAME.data
perf_start() {
    [ -n "$PERF_DIR" ] || return 0
    perf record -q -F 999 --call-graph dwarf,16384 -p "$DAEMON_PID" -o "$PERF_DIR/$1.data" \
        >"$PERF_DIR/$1.log" 2>&1 &
    PERF_PID=$!
    echo "$DAEMON_PID" >"$PERF_DIR/$1.pid"
    sleep 0.5                     # perf attaches asynchronously
}
# sched_start NAME: fork and exec tracepoints of the whole machine, monotonic clock, into
# $SCHED_DIR/NAME-sched.data until sched_stop
sched_start() {
    [ -n "$SCHED_DIR" ] || return 0
    perf record -q -a -k monotonic -e sched:sched_process_fork -e sched:sched_process_exec \
        -o "$SCHED_DIR/$1-sched.data" >"$SCHED_DIR/$1-sched.log" 2>&1 &
    SCHED_PID=$!
    echo "$DAEMON_PID" >"$SCHED_DIR/$1-sched.pid"
    # perf 6.1 refuses the realtime clock here ("wrong clockid"): the offset converts
    "$PY" -c 'import time; print(time.time_ns() - time.clock_gettime_ns(time.CLOCK_MONOTONIC))' \
        >"$SCHED_DIR/$1-sched.offset"
    sleep 0.5
}
sched_stop() {
    [ -n "$SCHED_PID" ] || return 0
    kill -INT "$SCHED_PID" 2>/dev/null || true
    wait "$SCHED_PID" 2>/dev/null || true
    SCHED_PID=""
}
perf_stop() {
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true     # perf ends by the SIGINT: status 130
    PERF_PID=""
}

# wait_hooks N0 COUNT PATTERN TIMEOUT_S: until COUNT hook lines after line N0 match PATTERN
wait_hooks() {
    local n0=$1 want=$2 pat=$3 tmo=$4
    local end=$(( $(now) + tmo * 1000000000 )) got
    while :; do
        got=$(tail -n +"$((n0 + 1))" "$HOOKLOG" | awk -v p="$pat" '$3 ~ p' | wc -l)
        [ "$got" -ge "$want" ] && return 0
        [ "$(now)" -lt "$end" ] || { log "WARNING: $got of $want hooks ($pat) after ${tmo}s"; return 1; }
        sleep 0.02
    done
}

# toggle LINK TAG: carrier down (peer), settle, carrier up; wait for the routable.d hook
toggle() {
    local n0
    ip -n "$NS_PEER" link set "${1}p" down
    wait_state no-carrier configured 20 "$LABND1_FILE"
    sleep 0.3                     # let the daemon handle no-carrier before the clock starts
    n0=$(hook_lines)
    ip -n "$NS_PEER" link set "${1}p" up
    wait_hooks "$n0" 1 "^$1\$" 20 || return 1
    wait_state routable configured 20 "$LABND1_FILE"
    sleep 0.1
}

# ---------------------------------------------------------------------------------------------
# one daemon, one round
measure() {   # measure ROUND nd|nb
    local r=$1 d=$2 n0 n1 t0 t1 c0 c1 rss i
    log "round $r: $(dname "$d")"
    start_daemon "$d"
    wait_quiet
    echo "idle $r $d $(rss_kb) $(rss_split_kb)" >>"$WORK/steps"
    local prof=0 pp=""
    if [ "$r" = 1 ] && [ "$d" = nb ]; then prof=1; fi
    if [ "$r" = 1 ] && [ "$d" = nd ] && [ -n "$PEER_BIN" ]; then prof=1; pp=peer-; fi

    # 1. latency
    if [ "$prof" = 1 ]; then perf_start "${pp}toggles"; fi
    if [ "$r" = 1 ] && [ "$d" = nb ]; then sched_start toggles; fi
    n0=$(hook_lines); t0=$(now)
    for ((i = 0; i < TOGGLES; i++)); do
        toggle labnd1 || log "WARNING: toggle $i: no hook within 20 s"
    done
    n1=$(hook_lines); t1=$(now)
    perf_stop
    sched_stop
    echo "lat $r $d $t0 $t1 $n0 $n1 $TOGGLES" >>"$WORK/steps"

    # 2. burst (+ 4. CPU and memory)
    wait_quiet
    if [ "$prof" = 1 ]; then perf_start "${pp}burst"; fi
    sampler_start "$WORK/cpu.$r.$d"
    c0=$(cpu_ticks); n0=$(hook_lines); t0=$(now)
    peers_set up "${BURST_PEERS[@]}"
    wait_hooks "$n0" "$NBURST" '^bnb' 300 || true
    wait_state routable configured 120 "${BURST_FILES[@]}"
    wait_quiet
    c1=$(cpu_ticks); rss=$(rss_kb); n1=$(hook_lines); t1=$(now)
    perf_stop
    sampler_stop
    read -r s0 k0 <<<"$c0"; read -r s1 k1 <<<"$c1"
    echo "burst $r $d $t0 $t1 $n0 $n1 $NBURST $((s1 - s0)) $((s1 - s0 + k1 - k0)) $rss $(rss_split_kb)" >>"$WORK/steps"

    # 3. parallelism
    n0=$(hook_lines); t0=$(now)
    peers_set up "${PAR_PEERS[@]}"
    wait_hooks "$n0" "$NPAR" '^bnp' 300 || true
    wait_state routable configured 120 "${PAR_FILES[@]}"
    sleep 0.5                     # the last hook's line is written at its end: give it time
    wait_quiet
    n1=$(hook_lines); t1=$(now)
    echo "par $r $d $t0 $t1 $n0 $n1 $NPAR" >>"$WORK/steps"
    echo "hwm $r $d $(hwm_kb)" >>"$WORK/steps"

    stop_daemon
    # back to no carrier for the next phase, with no daemon listening
    peers_set down "${BURST_PEERS[@]}" "${PAR_PEERS[@]}"
    wait_state no-carrier configured 120 "${ALL_FILES[@]}"
}

# ---------------------------------------------------------------------------------------------
# 5. once per daemon after the rounds, in a fresh process: idle CPU, address events, many links

# the bus objects of network-broker against the kernel's links and addresses in the lab host:
# prints "equal (L links, A addresses)" or what differs
compare_view() {
    if ! busctl --system --json=short call org.freedesktop.NetworkBroker1 /org/freedesktop/NetworkBroker1 \
            org.freedesktop.DBus.ObjectManager GetManagedObjects >"$WORK/objects.json" 2>"$WORK/objects.err"; then
        echo "bus-call-failed"; return 0
    fi
    ip -n "$NS_HOST" -j address show >"$WORK/ipaddr.json"
    "$PY" - "$WORK/objects.json" "$WORK/ipaddr.json" <<'PY'
import json, sys
objects = json.load(open(sys.argv[1]))["data"][0]
bus = {}
for ifaces in objects.values():
    link = ifaces.get("org.freedesktop.NetworkBroker1.Link")
    if link is not None:
        bus[link["Index"]["data"]] = (link["Name"]["data"], sorted((a[0], a[1]) for a in link["Addresses"]["data"]))
kernel = {}
for link in json.load(open(sys.argv[2])):
    kernel[link["ifindex"]] = (link["ifname"], sorted((a["local"], a["prefixlen"]) for a in link.get("addr_info", [])))
missing = len(kernel.keys() - bus.keys())
extra = len(bus.keys() - kernel.keys())
differ = sum(1 for i in kernel.keys() & bus.keys() if kernel[i] != bus[i])
if missing or extra or differ:
    print(f"DIFFERS:{missing}-missing,{extra}-extra,{differ}-differ")
else:
    print(f"equal({len(kernel)}-links,{sum(len(v[1]) for v in kernel.values())}-addresses)")
PY
}

scale() {   # scale nd|nb
    local d=$1 c0 c1 r1 i j t0 n half batches view
    log "scale: $(dname "$d")"
    start_daemon "$d"
    wait_quiet
    if [ "$IDLE_SECS" -gt 0 ]; then
        log "scale: idle CPU over $IDLE_SECS s"
        c0=$(cpu_ticks); sleep "$IDLE_SECS"; c1=$(cpu_ticks)
        read -r s0 k0 <<<"$c0"; read -r s1 k1 <<<"$c1"
        echo "idlecpu $d $IDLE_SECS $((s1 - s0)) $(rss_kb)" >>"$WORK/steps"
    fi
    if [ "$ADDR_EVENTS" -gt 0 ]; then
        # batches of 10,000 events on one link (down: no routes follow the addresses):
        # 5,000 addresses added, then the same deleted
        half=$(( ADDR_EVENTS < 10000 ? ADDR_EVENTS / 2 : 5000 ))
        [ "$half" -ge 1 ] || half=1
        batches=$(( (ADDR_EVENTS + 2 * half - 1) / (2 * half) ))
        if [ "$ADDR_LINK_CREATED" = 0 ]; then
            # a veth (the lab's kernel may lack the dummy module), left down
            ip link add "$ADDR_LINK" netns "$NS_HOST" type veth peer name "${ADDR_LINK}p" netns "$NS_PEER"
            ADDR_LINK_CREATED=1
        fi
        : >"$WORK/addr.batch"
        for ((j = 0; j < half; j++)); do echo "address add 10.150.$((j / 250)).$((j % 250 + 1))/32 dev $ADDR_LINK"; done >>"$WORK/addr.batch"
        for ((j = 0; j < half; j++)); do echo "address del 10.150.$((j / 250)).$((j % 250 + 1))/32 dev $ADDR_LINK"; done >>"$WORK/addr.batch"
        log "scale: $((batches * 2 * half)) address events in $batches batches"
        t0=$(now)
        for ((i = 1; i <= batches; i++)); do
            ip -n "$NS_HOST" -batch "$WORK/addr.batch"
            if [ "$i" = 1 ]; then wait_quiet 120; r1=$(rss_kb); fi
        done
        wait_quiet 120
        echo "addr $d $((2 * half)) $r1 $((batches * 2 * half)) $(rss_kb) $(( (QUIET_SINCE - t0) / 1000000 ))" >>"$WORK/steps"
    fi
    if [ "$SCALE_LINKS" -gt 0 ]; then
        log "scale: $SCALE_LINKS veth pairs in batches of 512"
        if [ "$d" = nb ]; then perf_start scale; elif [ -n "$PEER_BIN" ]; then perf_start peer-scale; fi
        SCALE_CREATED=1
        t0=$(now)
        for ((i = 0; i < SCALE_LINKS; i += 512)); do
            n=$(( i + 512 < SCALE_LINKS ? i + 512 : SCALE_LINKS ))
            for ((j = i; j < n; j++)); do
                echo "link add bns$j netns $NS_HOST group $SCALE_GROUP type veth peer name bns${j}p netns $NS_PEER"
            done | ip -batch -
            for ((j = i; j < n; j++)); do
                echo "address add 10.$((100 + j / 250)).$((j % 250)).1/32 dev bns$j"
            done | ip -n "$NS_HOST" -batch -
        done
        wait_quiet 600
        local absorb=$(( (QUIET_SINCE - t0) / 1000000 )) rss hwm
        rss=$(rss_kb); hwm=$(hwm_kb)
        perf_stop
        if [ "$d" = nb ]; then view=$(compare_view); else view=-; fi
        log "scale: deleting the $SCALE_LINKS pairs"
        ip -n "$NS_HOST" link del group "$SCALE_GROUP"
        SCALE_CREATED=0
        wait_quiet 600
        echo "links $d $SCALE_LINKS $absorb $rss $hwm $view $(rss_kb)" >>"$WORK/steps"
    fi
    stop_daemon
}

# ---------------------------------------------------------------------------------------------
if [ "$EXECUTOR" = 0 ] && [ -z "$PEER_BIN" ]; then ensure_dispatcher; fi
WORK=$(mktemp -d /tmp/nb-bench-work.XXXXXX)
chmod 0755 "$WORK"
HOOKLOG=$WORK/hooks.log
: >"$HOOKLOG"; : >"$WORK/steps"
lab_up
write_hooks
start_monitor
for d in nd nb; do   # 0. idle with the lab's own links only, before the bench links exist
    log "idle, lab links only: $(dname "$d")"
    start_daemon "$d"
    wait_quiet
    echo "idle0 $d $(rss_kb) $(rss_split_kb) $(ip -n "$NS_HOST" -o link show | wc -l)" >>"$WORK/steps"
    stop_daemon
done
create_links
{
    echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpus $(nproc)"
    echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "kernel $(uname -r)"
    echo "networkd $(dpkg-query -W -f='${Version}' systemd)"
    if [ -n "$PEER_BIN" ]; then echo "dispatcher $("$PEER_BIN" --version) at $PEER_BIN"
    else echo "dispatcher $(dpkg-query -W -f='${Version}' networkd-dispatcher 2>/dev/null || echo none)"; fi
    echo "peer_name $(dname nd)"
    echo "ours_name $(dname nb)"
    echo "executor $EXECUTOR"
    echo "broker $("$NB_BIN" --version)"
    echo "clk_tck $(getconf CLK_TCK)"
    echo "config runs=$RUNS toggles=$TOGGLES links=$NBURST parallel=$NPAR idle-secs=$IDLE_SECS addr-events=$ADDR_EVENTS scale-links=$SCALE_LINKS"
} >"$WORK/meta"

for ((r = 1; r <= RUNS; r++)); do
    if [ $((r % 2)) = 1 ]; then order="nd nb"; else order="nb nd"; fi
    for d in $order; do measure "$r" "$d"; done
done
if [ "$IDLE_SECS" -gt 0 ] || [ "$ADDR_EVENTS" -gt 0 ] || [ "$SCALE_LINKS" -gt 0 ]; then
    for d in nd nb; do scale "$d"; done
fi
echo "load_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/meta"
echo "duration $(( ($(now) - T_START) / 1000000000 )) s in all" >>"$WORK/meta"
sleep 0.2

log "analysing"
"$PY" - "$WORK" <<'PY'
import datetime, json, math, re, statistics, sys

work = sys.argv[1]
meta = dict(l.rstrip("\n").split(" ", 1) for l in open(f"{work}/meta"))
names = {}
for l in open(f"{work}/ifindex"):
    idx, name = l.split()
    names[int(idx)] = name

def link_of(path):
    seg = path.rsplit("/", 1)[1]            # _3N...: sd-bus escapes the leading digit
    if not seg.startswith("_"):
        return None
    try:
        return names.get(int(chr(int(seg[1:3], 16)) + seg[3:]))
    except ValueError:
        return None

sigs = []   # (ns, link, props)
for l in open(f"{work}/monitor.json"):
    try:
        m = json.loads(l)
    except ValueError:
        continue
    if m.get("member") != "PropertiesChanged" or not m.get("path", "").startswith("/org/freedesktop/network1/link/"):
        continue
    data = m["payload"]["data"]
    if data[0] != "org.freedesktop.network1.Link":
        continue
    link = link_of(m["path"])
    if link is None:
        continue
    if "timestamp-realtime" not in m:
        sys.exit("busctl monitor gave no timestamps")
    sigs.append((m["timestamp-realtime"] * 1000, link, {k: v["data"] for k, v in data[1].items()}))
sigs.sort(key=lambda s: s[0])

hooks = []  # (start_ns, end_ns, iface, state)
for l in open(f"{work}/hooks.log"):
    f = l.split()
    hooks.append((int(f[0]), int(f[1]), f[2], f[3]))

# network-broker's log: when the broker took in each routable transition (its log line's time)
broker_routable = []
for l in open(f"{work}/nb.log", errors="replace"):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z\s+INFO (\S+): OperationalState=routable", l)
    if m:
        t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
        broker_routable.append((m.group(2), int(t.timestamp() * 1e6) * 1000))

res = {"nd": {}, "nb": {}}
def add(d, key, v):
    res[d].setdefault(key, []).append(v)
warnings = []

scale = {"nd": {}, "nb": {}}
for step in (l.split() for l in open(f"{work}/steps")):
    if step[0] == "idle":                  # idle ROUND D RSS_KB ANON_KB FILE_KB
        add(step[2], "idle_rss", int(step[3]) / 1024)
        add(step[2], "idle_anon", int(step[4]) / 1024)
        add(step[2], "idle_file", int(step[5]) / 1024)
        continue
    if step[0] == "idle0":                 # idle0 D RSS_KB ANON_KB FILE_KB LINKS
        scale[step[1]]["idle0"] = int(step[2]) / 1024
        scale[step[1]]["idle0_split"] = f"{int(step[3]) / 1024:.1f} / {int(step[4]) / 1024:.1f}"
        scale[step[1]]["idle0_links"] = int(step[5])
        continue
    if step[0] == "hwm":                   # hwm ROUND D HWM_KB
        add(step[2], "hwm", int(step[3]) / 1024)
        continue
    if step[0] == "idlecpu":               # idlecpu D SECONDS TICKS RSS_KB
        scale[step[1]]["idle_secs"] = int(step[2])
        scale[step[1]]["idle_ticks"] = int(step[3])
        continue
    if step[0] == "addr":                  # addr D N1 RSS1_KB N RSS_KB ABSORB_MS
        d = step[1]
        scale[d]["addr_n1"], scale[d]["addr_rss1"] = int(step[2]), int(step[3]) / 1024
        scale[d]["addr_n"], scale[d]["addr_rss"] = int(step[4]), int(step[5]) / 1024
        scale[d]["addr_growth"] = 100 * (int(step[5]) - int(step[3])) / int(step[3])
        continue
    if step[0] == "links":                 # links D N ABSORB_MS RSS_KB HWM_KB VIEW RSS_AFTER_KB
        d = step[1]
        scale[d]["links_n"], scale[d]["links_absorb"] = int(step[2]), int(step[3]) / 1000
        scale[d]["links_rss"], scale[d]["links_hwm"] = int(step[4]) / 1024, int(step[5]) / 1024
        scale[d]["links_view"] = step[6].replace("-", " ")
        scale[d]["links_rss_after"] = int(step[7]) / 1024
        continue
    kind, r, d = step[0], step[1], step[2]
    t0, t1, n0, n1, want = map(int, step[3:8])
    lines = hooks[n0:n1]
    win = [s for s in sigs if t0 <= s[0] <= t1]
    if kind == "lat":
        rsigs = [s[0] for s in win if s[1] == "labnd1" and s[2].get("OperationalState") == "routable"]
        mine = [h for h in lines if h[2] == "labnd1"]
        if len(mine) != want:
            warnings.append(f"round {r} {d}: {len(mine)} labnd1 hooks for {want} toggles")
        # Each toggle has one routable signal and one hook, >= 0.3 s from the next toggle's: pair
        # each hook with the nearest signal.  The signal's time is when the monitor received it;
        # dbus-daemon may write it to the daemon first and to the monitor a little later, so a
        # fast hook can start "before" its signal: such a value is kept, negative, not dropped.
        for h in mine:
            if not rsigs:
                warnings.append(f"round {r} {d}: no routable signal for labnd1 seen")
                break
            s = min(rsigs, key=lambda x: abs(h[0] - x))
            if abs(h[0] - s) > 250e6:
                warnings.append(f"round {r} {d}: a labnd1 hook {(h[0] - s) / 1e6:.0f} ms from the nearest routable signal")
                continue
            add(d, "lat", (h[0] - s) / 1e6)
            if d == "nb":
                # the same split as the burst's: signal -> the broker's log line of the
                # transition -> the hook's first line
                logged = [t for n, t in broker_routable if n == "labnd1" and s - 50e6 <= t <= h[0]]
                if logged:
                    add(d, "lat_to_broker", (logged[-1] - s) / 1e6)
                    add(d, "lat_broker_to_hook", (h[0] - logged[-1]) / 1e6)
    elif kind in ("burst", "par"):
        pre = "bnb" if kind == "burst" else "bnp"
        mine = [h for h in lines if h[2].startswith(pre)]
        lsigs = [s for s in win if s[1].startswith(pre)]
        if not lsigs:
            warnings.append(f"round {r} {d} {kind}: no networkd signals seen")
            continue
        first = lsigs[0][0]
        routable = [s[0] for s in lsigs if s[2].get("OperationalState") == "routable"]
        distinct = len({h[2] for h in mine})
        dups = len(mine) - distinct
        if len(mine) != want or dups:
            warnings.append(f"round {r} {d} {kind}: {len(mine)} hooks, {distinct} links, expected {want}")
        add(d, f"{kind}_count", (len(mine), distinct, dups))
        if kind == "burst":
            rs = {}
            for s in lsigs:
                if s[2].get("OperationalState") == "routable":
                    rs[s[1]] = s[0]
            lags = sorted((h[0] - rs[h[2]]) / 1e9 for h in mine if h[2] in rs)
            if lags:
                add(d, "burst_lag", statistics.median(lags))
            if d == "nb":
                # where a link's wait goes: signal -> the broker's log line of the transition,
                # and that line -> the hook's start
                seen = {n: t for n, t in broker_routable if t0 <= t <= t1}
                a = [seen[n] - rs[n] for n in seen if n in rs]
                b = [h[0] - seen[h[2]] for h in mine if h[2] in seen]
                if a and b:
                    add(d, "burst_to_broker", statistics.median(a) / 1e9)
                    add(d, "burst_broker_to_hook", statistics.median(b) / 1e9)
            if mine:
                add(d, "burst_last", (max(h[0] for h in mine) - first) / 1e9)
            if routable:
                add(d, "burst_nd", (max(routable) - first) / 1e9)
            if mine and routable:
                add(d, "burst_after_nd", (max(h[0] for h in mine) - max(routable)) / 1e9)
            # The hook wave: from networkd's 10th-percentile routable signal (most links go
            # routable together; a few go early) to the last hook's start. Where the CPUs went
            # in it, from the 50 ms samples around its ends.
            try:
                samples = [[int(x) for x in l.split()] for l in open(f"{work}/cpu.{r}.{d}")]
            except (OSError, ValueError):
                samples = []
            if mine and len(routable) >= 10 and len(samples) >= 2:
                w0 = sorted(routable)[len(routable) // 10]
                w1 = max(h[0] for h in mine)
                before = [x for x in samples if x[0] <= w0] or samples[:1]
                after = [x for x in samples if x[0] >= w1] or samples[-1:]
                a, b = before[-1], after[0]
                tck = int(meta["clk_tck"])
                if b[2] > a[2]:
                    add(d, "wave_len", (w1 - w0) / 1e9)
                    add(d, "wave_busy", 100.0 * (b[1] - a[1]) / (b[2] - a[2]))
                    add(d, "wave_networkd", (b[3] - a[3]) / tck)
                    add(d, "wave_dbus", (b[4] - a[4]) / tck)
                    add(d, "wave_daemon", (b[5] - a[5]) / tck)
                    add(d, "wave_children", (b[6] - a[6]) / tck)
            tck = int(meta["clk_tck"])
            add(d, "cpu_self", int(step[8]) / tck)
            add(d, "cpu_all", int(step[9]) / tck)
            add(d, "rss", int(step[10]) / 1024)
            add(d, "rss_anon", int(step[11]) / 1024)
            add(d, "rss_file", int(step[12]) / 1024)
        else:
            if mine:
                add(d, "par_total", (max(h[1] for h in mine) - first) / 1e9)
                ev = sorted([(h[0], 1) for h in mine] + [(h[1], -1) for h in mine], key=lambda e: (e[0], e[1]))
                cur = top = 0
                for _, e in ev:
                    cur += e
                    top = max(top, cur)
                add(d, "par_conc", top)
            if routable:
                add(d, "par_nd", (max(routable) - first) / 1e9)

def med(d, k):
    v = res[d].get(k)
    return statistics.median(v) if v else None
def p95(d, k):
    v = sorted(res[d].get(k, []))
    return v[max(0, math.ceil(0.95 * len(v)) - 1)] if v else None
def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)
def two(d, k1, k2, spec=".2f"):
    return f"{fmt(med(d, k1), spec)} / {fmt(med(d, k2), spec)}"
def ratio(a, b, floor=None):
    if a is None or b is None:
        return "n/a"
    if b == 0 or (floor is not None and b < floor):
        return f">{a / floor:.0f}x" if floor else "inf"
    return f"{a / b:.1f}x"
def counts(d, k):
    v = res[d].get(k, [])
    if not v:
        return "n/a"
    lo, hi = min(c[1] for c in v), max(c[0] for c in v)
    dups = sum(c[2] for c in v)
    ok = all(c[0] == c[1] for c in v)
    s = f"{lo}" if lo == hi else f"{lo}..{hi}"
    return s + (f" ({dups} dup)" if dups else "") + ("" if ok else " !")

runs = meta["config"]
nb_, np_ = meta["config"].split()[2].split("=")[1], meta["config"].split()[3].split("=")[1]
tick = 1 / int(meta["clk_tck"])
def sc(d, k, spec):
    v = scale[d].get(k)
    return "n/a" if v is None else (v if isinstance(v, str) else format(v, spec))
def mx(d, k):
    v = res[d].get(k)
    return max(v) if v else None
na = scale["nb"].get("addr_n1", 10000)
nl = scale["nb"].get("links_n", 0)
rows = [
    (f"0 idle RSS, {scale['nb'].get('idle0_links', '?')} links (the lab's own) (MiB)", sc("nd", "idle0", ".1f"), sc("nb", "idle0", ".1f"), ratio(scale["nd"].get("idle0"), scale["nb"].get("idle0")), "<= 5"),
    (f"0 idle RSS, lab's links: anonymous / file-backed (MiB)", sc("nd", "idle0_split", ""), sc("nb", "idle0_split", ""), "-", ""),
    (f"0 idle RSS at a round's start, {nb_}+{np_}+lab links (MiB)", fmt(med("nd", "idle_rss"), ".1f"), fmt(med("nb", "idle_rss"), ".1f"), ratio(med("nd", "idle_rss"), med("nb", "idle_rss")), ""),
    (f"0 idle RSS at a round's start: anon / file (MiB)", f'{fmt(med("nd", "idle_anon"), ".1f")} / {fmt(med("nd", "idle_file"), ".1f")}', f'{fmt(med("nb", "idle_anon"), ".1f")} / {fmt(med("nb", "idle_file"), ".1f")}', "-", ""),
    (f"1 latency, signal -> hook start: median (ms)", fmt(med("nd", "lat"), ".1f"), fmt(med("nb", "lat"), ".1f"), ratio(med("nd", "lat"), med("nb", "lat")), "<= 2"),
    (f"1 latency, signal -> hook start: p95 (ms)", fmt(p95("nd", "lat"), ".1f"), fmt(p95("nb", "lat"), ".1f"), ratio(p95("nd", "lat"), p95("nb", "lat")), "<= 5"),
    (f"1 latency: signal -> broker's log line / its line -> hook start, median (ms)", "-", f'{fmt(med("nb", "lat_to_broker"), ".1f")} / {fmt(med("nb", "lat_broker_to_hook"), ".1f")}', "-", ""),
    (f"2 burst {nb_} links: first signal -> last hook (s)", fmt(med("nd", "burst_last"), ".2f"), fmt(med("nb", "burst_last"), ".2f"), ratio(med("nd", "burst_last"), med("nb", "burst_last")), ""),
    (f"2 burst: per link, its signal -> its hook, median (s)", fmt(med("nd", "burst_lag"), ".2f"), fmt(med("nb", "burst_lag"), ".2f"), ratio(med("nd", "burst_lag"), med("nb", "burst_lag")), "<= 0.05"),
    (f"2 burst: per link, its signal -> broker's log line (s)", "-", fmt(med("nb", "burst_to_broker"), ".2f"), "-", ""),
    (f"2 burst: per link, broker's log line -> its hook (s)", "-", fmt(med("nb", "burst_broker_to_hook"), ".2f"), "-", ""),
    (f"2 burst: networkd's last routable signal (s)", fmt(med("nd", "burst_nd"), ".2f"), fmt(med("nb", "burst_nd"), ".2f"), "-", ""),
    (f"2 burst: last hook after networkd's last routable (s)", fmt(med("nd", "burst_after_nd"), ".2f"), fmt(med("nb", "burst_after_nd"), ".2f"), ratio(med("nd", "burst_after_nd"), med("nb", "burst_after_nd")), "<= 0.3"),
    (f"2 burst, the hook wave (10 % of routable signals -> last hook): length (s)", fmt(med("nd", "wave_len"), ".2f"), fmt(med("nb", "wave_len"), ".2f"), "-", ""),
    (f"2 burst, the wave: all CPUs busy (%)", fmt(med("nd", "wave_busy"), ".0f"), fmt(med("nb", "wave_busy"), ".0f"), "-", ""),
    (f"2 burst, the wave: CPU of networkd / dbus-daemon (s)", two("nd", "wave_networkd", "wave_dbus"), two("nb", "wave_networkd", "wave_dbus"), "-", ""),
    (f"2 burst, the wave: CPU of the daemon / its reaped children (s)", two("nd", "wave_daemon", "wave_children"), two("nb", "wave_daemon", "wave_children"), "-", ""),
    (f"2 burst: hooks run, per link once (of {nb_})", counts("nd", "burst_count"), counts("nb", "burst_count"), "-", f"{nb_}"),
    (f"3 parallel {np_} x sleep 0.2: until all done (s)", fmt(med("nd", "par_total"), ".2f"), fmt(med("nb", "par_total"), ".2f"), ratio(med("nd", "par_total"), med("nb", "par_total")), ""),
    (f"3 parallel: networkd's last routable signal (s)", fmt(med("nd", "par_nd"), ".2f"), fmt(med("nb", "par_nd"), ".2f"), "-", ""),
    (f"3 parallel: most hooks running at once", fmt(med("nd", "par_conc"), ".0f"), fmt(med("nb", "par_conc"), ".0f"), "-", ""),
    (f"4 RSS after the burst (MiB)", fmt(med("nd", "rss"), ".1f"), fmt(med("nb", "rss"), ".1f"), ratio(med("nd", "rss"), med("nb", "rss")), ""),
    (f"4 RSS after the burst: anonymous / file-backed (MiB)", f'{fmt(med("nd", "rss_anon"), ".1f")} / {fmt(med("nd", "rss_file"), ".1f")}', f'{fmt(med("nb", "rss_anon"), ".1f")} / {fmt(med("nb", "rss_file"), ".1f")}', "-", ""),
    (f"4 peak RSS, VmHWM at the end of a round, max (MiB)", fmt(mx("nd", "hwm"), ".1f"), fmt(mx("nb", "hwm"), ".1f"), ratio(mx("nd", "hwm"), mx("nb", "hwm")), "<= 8"),
    (f"4 CPU in the burst, daemon (s)", fmt(med("nd", "cpu_self"), ".2f"), fmt(med("nb", "cpu_self"), ".2f"), ratio(med("nd", "cpu_self"), med("nb", "cpu_self"), tick), ">= 2.0x"),
    (f"4 CPU in the burst, + children (s)", fmt(med("nd", "cpu_all"), ".2f"), fmt(med("nb", "cpu_all"), ".2f"), ratio(med("nd", "cpu_all"), med("nb", "cpu_all"), tick), ""),
]
if "idle_ticks" in scale["nb"]:
    rows.append((f"5 idle CPU over {scale['nb']['idle_secs']} s (ticks)", sc("nd", "idle_ticks", "d"), sc("nb", "idle_ticks", "d"), "-", "0"))
if "addr_n" in scale["nb"]:
    rows += [
        (f"5 addresses: RSS after {na:,} events (MiB)", sc("nd", "addr_rss1", ".2f"), sc("nb", "addr_rss1", ".2f"), "-", ""),
        (f"5 addresses: RSS after {scale['nb']['addr_n']:,} events (MiB)", sc("nd", "addr_rss", ".2f"), sc("nb", "addr_rss", ".2f"), "-", ""),
        (f"5 addresses: growth from {na:,} to {scale['nb']['addr_n']:,} (%)", sc("nd", "addr_growth", "+.1f"), sc("nb", "addr_growth", "+.1f"), "-", "<= 5"),
    ]
if nl:
    rows += [
        (f"5 {nl} links: creation until the daemon is idle (s)", sc("nd", "links_absorb", ".1f"), sc("nb", "links_absorb", ".1f"), ratio(scale["nd"].get("links_absorb"), scale["nb"].get("links_absorb")), ""),
        (f"5 {nl} links: RSS (MiB)", sc("nd", "links_rss", ".1f"), sc("nb", "links_rss", ".1f"), ratio(scale["nd"].get("links_rss"), scale["nb"].get("links_rss")), "<= 16"),
        (f"5 {nl} links: VmHWM of the scale phase (MiB)", sc("nd", "links_hwm", ".1f"), sc("nb", "links_hwm", ".1f"), "-", ""),
        (f"5 {nl} links: RSS once they are deleted (MiB)", sc("nd", "links_rss_after", ".1f"), sc("nb", "links_rss_after", ".1f"), "-", ""),
        (f"5 {nl} links: bus objects = ip -j address", "-", sc("nb", "links_view", ""), "-", "equal"),
    ]
if meta.get("executor") == "1":
    # the executor's cost: the same daemon with and without the extra hop
    def diff(a, b):
        return "-" if a is None or b is None else f"{b - a:+.2f}"
    rows.insert(0, ("1 latency median: executor - in process (ms)", "-", diff(med("nd", "lat"), med("nb", "lat")), "-", "<= +0.5"))
    rows.insert(1, ("1 latency p95: executor - in process (ms)", "-", diff(p95("nd", "lat"), p95("nb", "lat")), "-", ""))
hdr = ("", meta.get("peer_name", "networkd-dispatcher"), meta.get("ours_name", "network-broker"), "peer/ours", "goal")
w = [max(len(r[i]) for r in rows + [hdr]) for i in range(5)]
line = lambda r: f"| {r[0]:<{w[0]}} | {r[1]:>{w[1]}} | {r[2]:>{w[2]}} | {r[3]:>{w[3]}} | {r[4]:>{w[4]}} |"
print(f"{meta.get('ours_name', 'network-broker')} vs {meta.get('peer_name', 'networkd-dispatcher')} {meta['dispatcher']}, {meta['date']}, {meta['cpus']} CPUs, "
      f"kernel {meta['kernel']}, systemd-networkd {meta['networkd']}")
print(f"{meta['config']}; load average at start {meta['load']}, at end {meta['load_end']}; {meta.get('duration', '?')}")
print(f"medians over the rounds; latency over all {len(res['nd'].get('lat', []))} / {len(res['nb'].get('lat', []))} toggles")
print()
print(line(hdr))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows:
    print(line(r))
print()
print("per round (peer / ours):")
for k, label, spec in (("burst_last", "burst first signal -> last hook (s)", ".2f"),
                       ("par_total", "parallel until all done (s)", ".2f"),
                       ("rss", "RSS (MiB)", ".1f"), ("idle_rss", "idle RSS (MiB)", ".1f"),
                       ("hwm", "VmHWM (MiB)", ".1f"), ("cpu_self", "CPU daemon (s)", ".2f"),
                       ("cpu_all", "CPU + children (s)", ".2f")):
    a = " ".join(format(x, spec) for x in res["nd"].get(k, []))
    b = " ".join(format(x, spec) for x in res["nb"].get(k, []))
    print(f"  {label:<38} {a}  /  {b}")
for d in ("nd", "nb"):
    v = sorted(res[d].get("lat", []))
    if v:
        name = meta.get("peer_name" if d == "nd" else "ours_name", d)
        print(f"  latency {name:<20} (ms) min {v[0]:.1f}  max {v[-1]:.1f}")
for wmsg in warnings:
    print("WARNING:", wmsg)
PY
log "done"

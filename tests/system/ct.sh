#!/bin/bash
# ct.sh - throwaway machines that boot systemd as PID 1, for the system test tier
# (tests/system_*.rs, docs/testing.md). The host is never changed: each machine is the host's
# own / under a tmpfs overlay in a private mount namespace, booted by systemd-nspawn with a
# private network (only lo; veth pairs are made inside).
#
#   tests/system/ct.sh check            exit 0 if machines can be booted here, else say why (exit 1)
#   tests/system/ct.sh up NAME          boot machine $CT_NAME-NAME; returns once the boot is done
#   tests/system/ct.sh exec NAME CMD..  run CMD inside it (all its namespaces, clean environment)
#   tests/system/ct.sh put NAME PATH    copy stdin to PATH inside it (the host's /tmp is not visible)
#   tests/system/ct.sh down NAME        power it off and remove what nspawn leaves on the host
#
# CT_NAME (default nb-system) prefixes the machine names, CT_DIR (default /tmp/nb-system) holds
# their state and the cached systemd-nspawn. One machine per NAME at a time.
#
# Host facts this relies on (Debian 12): root; PID 1 is not systemd, so there is no machined
# (--register=no --keep-unit); cgroup v1 with v2 at /sys/fs/cgroup/unified. The machine runs
# on cgroup v2 alone (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1), as a Debian 12 system does: on v1 a
# container's systemd has no release agent and misses "cgroup empty" now and then, so a
# service SIGKILLed with its children sat in stop-sigterm until TimeoutStopSec (4 of 40 kills
# here; none of 40 on v2). nspawn refuses --directory=/ with --volatile=overlay,
# hence our own overlay. systemd-nspawn is the one of exactly the host's systemd version,
# unpacked from `apt-get download systemd-container=<version>` with dpkg -x and cached under
# CT_DIR: installing systemd-container would upgrade the host's systemd.
set -uo pipefail

CT_NAME=${CT_NAME:-nb-system}
CT_DIR=${CT_DIR:-/tmp/nb-system}
NSPAWN_DIR=$CT_DIR/nspawn
NSPAWN=$NSPAWN_DIR/usr/bin/systemd-nspawn

die() { echo "ct.sh: $*" >&2; exit 1; }

unpack_nspawn() {
    [ -x "$NSPAWN" ] && return 0
    local v dl
    v=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null) || { echo "no systemd package on the host" >&2; return 1; }
    dl=$CT_DIR/dl
    mkdir -p "$dl" || return 1
    if ! (cd "$dl" && apt-get download -q "systemd-container=$v" >/dev/null 2>&1); then
        apt-get update -q >/dev/null 2>&1
        (cd "$dl" && apt-get download -q "systemd-container=$v" >/dev/null 2>&1) ||
            { echo "cannot download systemd-container=$v" >&2; return 1; }
    fi
    rm -rf "$NSPAWN_DIR.tmp" && dpkg -x "$dl"/systemd-container_*.deb "$NSPAWN_DIR.tmp" &&
        mv "$NSPAWN_DIR.tmp" "$NSPAWN_DIR"
}

check() {
    [ "$(id -u)" = 0 ] || { echo "not root"; return 1; }
    [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ] ||
        { echo "the host runs systemd as PID 1 (this harness is for hosts that do not)"; return 1; }
    for c in unshare nsenter dpkg apt-get; do
        command -v "$c" >/dev/null || { echo "missing $c"; return 1; }
    done
    [ -d /sys/fs/cgroup/systemd ] || { echo "no /sys/fs/cgroup/systemd"; return 1; }
    grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
        { echo "no overlay filesystem"; return 1; }
    unpack_nspawn || { echo "cannot unpack systemd-nspawn"; return 1; }
}

machine() { # NAME -> sets M (machine name), D (its state dir)
    [[ ${1:-} =~ ^[a-z0-9-]+$ ]] || die "machine NAME must be [a-z0-9-]+, got '${1:-}'"
    M=$CT_NAME-$1
    D=$CT_DIR/$1
}

# Runs as a child: own cgroup (so nspawn's scope has somewhere to live), private mount
# namespace, overlay of /, then nspawn --boot. postgresql is masked: a service of the host
# image with nothing to do in a test machine but slow its boot.
boot() {
    local h
    for h in systemd unified; do
        mkdir -p "/sys/fs/cgroup/$h/$M" && echo "$BASHPID" >"/sys/fs/cgroup/$h/$M/cgroup.procs"
    done
    exec unshare --mount --propagation private bash -c '
        set -e; D=$1; shift
        mkdir -p "$D/t" "$D/root"; mount -t tmpfs -o mode=755 tmpfs "$D/t"; mkdir "$D/t/upper" "$D/t/work"
        mount -t overlay overlay -o "lowerdir=/,upperdir=$D/t/upper,workdir=$D/t/work" "$D/root"
        # The host image carries a policy-rc.d that forbids starting services (exit 101):
        # the machine is to behave like an ordinary Debian system. A test that wants it puts
        # one back.
        rm -f "$D/root/usr/sbin/policy-rc.d"
        SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec "$@"' _ "$D" "$NSPAWN" --directory="$D/root" --boot \
        --private-network --register=no --keep-unit --machine="$M" --console=read-only \
        systemd.mask=postgresql.service
}

leader() { # PID of the machine's PID 1 (nspawn's child)
    local n
    n=$(cat "$D/nspawn.pid" 2>/dev/null) || return 1
    ps -o pid= --ppid "$n" 2>/dev/null | head -1 | tr -d ' '
}

in_ct() {
    local l
    l=$(leader)
    [ -n "$l" ] || { echo "ct.sh: machine $M is not running" >&2; return 125; }
    nsenter -t "$l" -m -u -i -n -p -C -r -w env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb LANG=C.UTF-8 "$@"
}

up() {
    down
    check >&2 || exit 1
    mkdir -p "$D"
    (boot) >"$D/boot.log" 2>&1 </dev/null &
    echo $! >"$D/nspawn.pid"
    local i
    for i in $(seq 200); do
        [ -n "$(leader)" ] && in_ct test -S /run/systemd/private 2>/dev/null && break
        kill -0 "$(cat "$D/nspawn.pid")" 2>/dev/null || break
        sleep 0.1
    done
    # "degraded" (some unit of the host image failed) is fine for our purpose.
    in_ct timeout 90 systemctl is-system-running --wait >/dev/null 2>&1
    if [ "$(in_ct cat /proc/1/comm 2>/dev/null)" != systemd ]; then
        echo "ct.sh: machine $M did not boot; its console:" >&2
        tail -30 "$D/boot.log" >&2
        down
        exit 1
    fi
}

down() {
    local n h
    n=$(cat "$D/nspawn.pid" 2>/dev/null)
    if [ -n "$n" ] && kill -0 "$n" 2>/dev/null; then
        in_ct systemctl poweroff >/dev/null 2>&1
        for _ in $(seq 100); do kill -0 "$n" 2>/dev/null || break; sleep 0.1; done
        kill "$n" 2>/dev/null && sleep 0.5
        kill -9 "$n" 2>/dev/null
    fi
    rm -f "$D/nspawn.pid"
    for h in systemd unified; do # nspawn leaves its payload/supervisor cgroups behind
        [ -d "/sys/fs/cgroup/$h/$M" ] && find "/sys/fs/cgroup/$h/$M" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "/run/systemd/nspawn/propagate/$M" 2>/dev/null
    # The mounts lived in the boot's private namespace and went with it: on the host these are
    # empty directories. rmdir, never rm -r: should a mount ever be visible here, it is the host's /.
    rmdir "$D/t" "$D/root" 2>/dev/null
    return 0
}

cmd=${1:-}
shift || true
case "$cmd" in
    check) check ;;
    up) machine "${1:-}"; up ;;
    down) machine "${1:-}"; down ;;
    exec) machine "${1:-}"; shift; in_ct "$@" ;;
    put) machine "${1:-}"; [ -n "${2:-}" ] || die "put NAME PATH"; in_ct sh -c 'cat >"$1"' _ "$2" ;;
    *) echo "usage: $0 check | up NAME | exec NAME CMD... | put NAME PATH <FILE | down NAME" >&2; exit 2 ;;
esac

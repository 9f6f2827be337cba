#!/bin/bash
# netlab.sh - the network-broker project's own "network lab" for its integration tests.
#
# Verified on Debian 12 without systemd as PID 1.  Every pitfall it works around is a comment next
# to its fix: read them before changing anything below.  What to know first:
#   * LAB_DIR defaults to /tmp/network-broker-lab, namespace names can be prefixed (LAB_NS_PREFIX),
#     so this lab can coexist with other labs (other LAB_DIRs) on a shared machine;
#   * `up` writes $RUN/lab.env (paths + namespace names) for the test harness
#     (tests/common/src/lab.rs); it exists only while the lab is up;
#   * `down` only removes namespaces that this LAB_DIR created (never someone else's lab);
#   * preflight names the Debian packages to install (see .ci/run); systemd-resolved is fetched
#     with `apt-get download` and a clear error if the package lists are missing;
#   * the self-test stand-ins use only org.netlab.* bus names and polkit action ids, so the real
#     daemon's org.freedesktop.NetworkBroker1 name and actions stay free;
#   * `install-project` (done at `up` unless LAB_PROJECT_FILES=0) installs the project's dbus/*.conf,
#     dbus/*.service and polkit/*.policy into the lab.
#
#   netlab.sh up        build everything (namespaces, veths, dnsmasq, private system bus,
#                       systemd-networkd, systemd-resolved, polkitd, dhclient, activatable
#                       hostnamed + stand-in services)
#   netlab.sh down      kill every lab process (by PID), unmount, delete namespaces, remove run dir
#   netlab.sh status    show what is running / configured
#   netlab.sh selftest  run the verification checks (DHCP, resolved, hostnamed, polkit,
#                       activation, networkd signals, netlink isolation, event rate)
#   netlab.sh exec CMD  run CMD inside the lab "machine" (netns + mount ns + UTS ns,
#                       DBUS_SYSTEM_BUS_ADDRESS pointing at the lab bus)
#   netlab.sh peer CMD  run CMD in the peer (DHCP server) network namespace
#   netlab.sh env       print shell exports for talking to the lab bus from the host side
#   netlab.sh install-project   copy the project's dbus/ and polkit/ files into the running lab
#   netlab.sh restart-resolved [--forget]   restart the lab's systemd-resolved (--forget: drop
#                       the per-link settings it saved, so it starts knowing none)
#   netlab.sh networkd stop|start|restart
#                       stop the lab's systemd-networkd (only the PID in $RUN/pids/networkd.pid,
#                       after checking it is this lab's networkd) and wait until it is gone and
#                       its bus name is free; start it again exactly as `up` does (same command,
#                       log appended, pid file rewritten) and wait until that PID owns
#                       org.freedesktop.network1. For tests of what happens while networkd is away.
#   netlab.sh bus stop|start|restart
#                       stop: SIGKILL to the lab's dbus-daemon (only the PID in $RUN/pids/dbus.pid,
#                       after checking it is this lab's), as a crash would, and wait until it is
#                       gone; start: as `up` does (log appended), then networkd, resolved and
#                       polkitd are each given 2 s to be back on the new bus and are restarted
#                       (by PID) if not. For tests of what bus clients do when the bus goes away.
#   netlab.sh dhclient release|stop|start|restart
#                       release: `dhclient -r` inside the lab (the lab's dhclient is told to go, a
#                       DHCPRELEASE is sent, dhclient-script removes the address, and dhclient
#                       4.4.3 rewrites its lease file with the released lease last, its renew,
#                       rebind and expire set to the moment of the release); stop: SIGTERM to
#                       the PID in $RUN/pids/dhclient.pid only (after checking it is this lab's
#                       dhclient), no release; both return once it is gone.  start: as `up` does
#                       (same command, log appended) and returns once it is bound again.
#
# Topology (all names start with "lab"; nothing is created in the root netns):
#
#   netns labhost  (+ persistent mount ns + UTS ns = the "lab machine")      netns labpeer
#     labnd0  02:00:00:00:77:02  networkd DHCP=ipv4   <--veth-->  labnd0p 192.168.77.1/24 (dnsmasq)
#     labnd1  02:00:00:00:78:02  networkd static .2   <--veth-->  labnd1p 192.168.78.1/24
#     labdh0  02:00:00:00:79:02  unmanaged, dhclient  <--veth-->  labdh0p 192.168.79.1/24 (dnsmasq)
#
# Inside the lab mount namespace: /etc is an overlayfs (writes go to $RUN/etc-upper), /run is a
# fresh tmpfs, /run/dbus holds the lab bus socket, /sys is a read-only sysfs of labhost,
# /etc/systemd/network, /usr/share/dbus-1/system-services, /usr/share/polkit-1/actions and
# /var/lib/dhcp are bind mounts of directories under $RUN.  The real machine's /etc, /run,
# hostname, resolv.conf and network configuration are never modified.  /tmp, /work etc. are the
# host's (so test binaries and config dirs under /tmp are visible inside the lab).
#
# Environment knobs:
#   LAB_DIR=/tmp/network-broker-lab   base directory (run/ and cache/ live below it)
#   LAB_NS_PREFIX=lab         network namespaces are ${LAB_NS_PREFIX}host, ${LAB_NS_PREFIX}peer
#                             (and ${LAB_NS_PREFIX}st1 during selftest)
#   LAB_BUS_HELPER=1          1: dbus-daemon runs as messagebus and activates services through the
#                                setuid dbus-daemon-launch-helper (User= in .service honoured,
#                                environment cleared)
#                             0: no <servicehelper>: dbus-daemon (root) fork+execs Exec= itself,
#                                User= is ignored, environment inherited
#   LAB_DHCLIENT=1            start dhclient on labdh0
#   LAB_LOG_LEVEL=info        SYSTEMD_LOG_LEVEL for networkd/resolved
#   LAB_KEEP_ON_FAIL=0        1: if `up` fails, keep the half-built lab for inspection
#   LAB_PROJECT_FILES=1       1 (default): at `up`, install the project's dbus/ and polkit/ files (as `install-project`)
#   LAB_PROJECT_DIR=<repo>    where dbus/ and polkit/ are (default: two levels above this script)
#   LAB_BROKER_BIN=           for install-project: the daemon binary that dbus/*.service should Exec
#   LAB_FORCE_DOWN=0          1: `down` also removes namespaces with our names that this LAB_DIR did not create
set -euo pipefail

LAB_DIR=${LAB_DIR:-/tmp/network-broker-lab}
case "$LAB_DIR" in /*) ;; *) LAB_DIR=$PWD/$LAB_DIR ;; esac   # nsenter resets the cwd: absolute paths only
RUN=$LAB_DIR/run
CACHE=$LAB_DIR/cache
NS_PREFIX=${LAB_NS_PREFIX:-lab}
NS_HOST=${NS_PREFIX}host
NS_PEER=${NS_PREFIX}peer
NS_SCRATCH=${NS_PREFIX}st1
PROJECT_DIR=${LAB_PROJECT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUS_HELPER=${LAB_BUS_HELPER:-1}
WITH_DHCLIENT=${LAB_DHCLIENT:-1}
LOG_LEVEL=${LAB_LOG_LEVEL:-info}
SOCK=$RUN/bus/system_bus_socket
RESOLVED_DIR=$CACHE/resolved
RESOLVED_BIN=$RESOLVED_DIR/lib/systemd/systemd-resolved
RESOLVECTL=$RESOLVED_DIR/usr/bin/resolvectl
PY=/usr/bin/python3                      # the Debian python3 that has python3-dbus + gi
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$SOCK   # host-side clients (busctl, tests)

T0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - T0) / 1000000 )); }
log() { printf '[netlab %6sms] %s\n' "$(ms)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# run a command inside the lab machine (netns labhost + lab mount ns + lab UTS ns)
NSENTER=(nsenter --mount="$RUN/ns/mnt" --uts="$RUN/ns/uts" --net="/run/netns/$NS_HOST" --wd=/)
LABCMD=("${NSENTER[@]}" env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket)
lab() { "${LABCMD[@]}" "$@"; }
# how the lab runs systemd-networkd: `up` and `networkd start` use exactly this
NETWORKD_CMD=("${LABCMD[@]}" env SYSTEMD_LOG_LEVEL="$LOG_LEVEL" /lib/systemd/systemd-networkd)
# how the lab runs dhclient on labdh0: `up` and `dhclient start` use exactly this.  The real
# /sbin/dhclient-script: all its writes (resolv.conf, temp files, hostname) stay in the lab.
# IF_METRIC via -e: dhclient passes only -e variables to the script; keeps networkd's default
# route first.  Always -pf: the default pid file is the host's /run/dhclient.pid.
DHCLIENT_LEASES=/var/lib/dhcp/dhclient.leases   # inside the lab; $RUN/dhcp/dhclient.leases outside
DHCLIENT_CMD=("${LABCMD[@]}" dhclient -4 -d -v -e IF_METRIC=2048 -lf "$DHCLIENT_LEASES" -pf "$RUN/pids/dhclient.pidfile" labdh0)
ns_exists() { [ -e "/run/netns/$1" ]; }
is_mounted() { findmnt -rn --mountpoint "$1" >/dev/null 2>&1; }

# start a long-running daemon: own session (survives the caller's process group), logs to
# $RUN/log/NAME.log, PID in $RUN/pids/NAME.pid (setsid/nsenter exec in place, so $! is the daemon)
daemon() {
    local name=$1; shift
    setsid "$@" </dev/null >"$RUN/log/$name.log" 2>&1 &
    echo $! >"$RUN/pids/$name.pid"
}
# the same, appending to the log (a restart keeps the earlier run's log)
daemon_append() {
    local name=$1; shift
    setsid "$@" </dev/null >>"$RUN/log/$name.log" 2>&1 &
    echo $! >"$RUN/pids/$name.pid"
}

wait_for() {   # wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...
    local what=$1 tmo=$2; shift 2
    local end=$(( $(date +%s%N) + tmo * 1000000000 ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$end" ] || die "timeout waiting for $what"
        sleep 0.02
    done
    log "ready: $what"
}
on_bus() { busctl --system status "$1" >/dev/null 2>&1; }

ensure_resolved() {
    # systemd-resolved is not installed; installing it would upgrade systemd and take over
    # /etc/resolv.conf.  Download the .deb matching the installed libsystemd-shared (the binary
    # links to /usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so via RUNPATH) and unpack it.
    # Pick the version that matches libsystemd-shared: bookworm's main candidate can be newer
    # (252.39) than what a machine has installed from bookworm-security (252.38).
    local ver deb cand got
    ver=$(dpkg-query -W -f='${Version}' libsystemd-shared 2>/dev/null) \
        || die "libsystemd-shared is not installed (apt-get install systemd)"
    if [ -x "$RESOLVED_BIN" ] && [ "$(cat "$RESOLVED_DIR/.netlab-version" 2>/dev/null)" = "$ver" ]; then
        return 0
    fi
    mkdir -p "$CACHE"
    deb=$(ls "$CACHE"/systemd-resolved_"${ver//:/%3a}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        log "downloading systemd-resolved=$ver (apt-get download: unpacked into $RESOLVED_DIR, never installed)"
        # APT::Sandbox::User=root: the _apt user cannot write into the root-owned cache dir
        got=$ver
        if ! (cd "$CACHE" && apt-get -q -o APT::Sandbox::User=root download "systemd-resolved=$ver") >&2; then
            cand=$(apt-cache policy systemd-resolved 2>/dev/null | awk '/Candidate:/ {print $2}')
            [ -n "$cand" ] && [ "$cand" != "(none)" ] || die "cannot download systemd-resolved: apt knows no such package. Run 'apt-get update' first (Debian's package lists are needed; only the .deb is fetched, nothing is installed)"
            log "WARNING: systemd-resolved=$ver (matching libsystemd-shared) is not downloadable; trying the candidate $cand."
            log "WARNING: if resolved misbehaves, align the host: apt-get install --only-upgrade systemd libsystemd-shared"
            (cd "$CACHE" && apt-get -q -o APT::Sandbox::User=root download "systemd-resolved=$cand") >&2 \
                || die "cannot download systemd-resolved ($ver or $cand); run 'apt-get update' and check that Debian's archive is reachable"
            got=$cand
        fi
        deb=$(ls "$CACHE"/systemd-resolved_"${got//:/%3a}"_*.deb | head -n1)
    fi
    rm -rf "$RESOLVED_DIR"
    dpkg -x "$deb" "$RESOLVED_DIR"
    [ -x "$RESOLVED_BIN" ] || die "unpacking $deb failed: no $RESOLVED_BIN"
    "$RESOLVED_BIN" --version >/dev/null 2>&1 || die "$RESOLVED_BIN from $deb does not run against this host's libsystemd-shared $ver"
    echo "$ver" >"$RESOLVED_DIR/.netlab-version"
}

# Every command the lab (and its selftest) needs, with the Debian 12 package that ships it.
# tests/lab/deps.sh (make deps, .ci/run) installs these packages; keep the two lists in step.
REQUIRED_CMDS=(
    "ip:iproute2" "nsenter:util-linux" "unshare:util-linux" "setsid:util-linux" "setpriv:util-linux"
    "findmnt:util-linux" "timeout:coreutils" "awk:mawk" "ps:procps" "dpkg-query:dpkg" "apt-get:apt"
    "dbus-daemon:dbus-daemon" "/usr/lib/dbus-1.0/dbus-daemon-launch-helper:dbus" "busctl:systemd"
    "/lib/systemd/systemd-networkd:systemd" "/lib/systemd/systemd-hostnamed:systemd" "networkctl:systemd"
    "/usr/lib/polkit-1/polkitd:polkitd" "pkcheck:polkitd"
    "dnsmasq:dnsmasq-base" "dhclient:isc-dhcp-client" "/sbin/dhclient-script:isc-dhcp-client"
    "$PY:python3"
)

preflight() {
    [ "$(id -u)" = 0 ] || die "must run as root (namespaces, veths, mounts)"
    local entry c pkg missing=() pkgs=()
    for entry in "${REQUIRED_CMDS[@]}"; do
        c=${entry%:*}; pkg=${entry##*:}
        if ! command -v "$c" >/dev/null 2>&1; then
            missing+=("$c")
            case " ${pkgs[*]} " in *" $pkg "*) ;; *) pkgs+=("$pkg") ;; esac
        fi
    done
    if ! $PY -c 'import dbus, gi' 2>/dev/null; then
        missing+=("$PY: import dbus, gi"); pkgs+=(python3-dbus python3-gi)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        die "missing: ${missing[*]}
    install the Debian packages: apt-get install -y --no-install-recommends --no-upgrade ${pkgs[*]}
    (or: sudo make deps, which installs everything the tests need)"
    fi
    getent passwd messagebus >/dev/null || die "user messagebus missing (package dbus-system-bus-common)"
    getent passwd systemd-network >/dev/null || die "user systemd-network missing (package systemd)"
    grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || die "no overlayfs in this kernel (needed for the lab's /etc)"
}

gen_configs() {
    mkdir -p "$RUN"/{etc,log,pids,ns,bus,network,services,polkit-actions,dhcp,bin,system.d,etc-upper/systemd,etc-work}

    # ---- private system bus ----
    local helper_cfg=""
    if [ "$BUS_HELPER" = 1 ]; then
        helper_cfg="<user>messagebus</user>
  <servicehelper>/usr/lib/dbus-1.0/dbus-daemon-launch-helper</servicehelper>"
    fi
    cat >"$RUN/etc/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  $helper_cfg
  <listen>unix:path=$SOCK</listen>
  <auth>EXTERNAL</auth>
  <!-- inside the lab mount ns this is a bind mount of $RUN/services; the launch helper
       only searches the standard system service dirs, so this path is required for LAB_BUS_HELPER=1 -->
  <servicedir>/usr/share/dbus-1/system-services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
  <!-- the project's own bus policy (dbus/*.conf), copied here by install-project; empty otherwise.
       Rules there come after the permissive default above, so their denies apply, but their
       allows prove nothing: the default above already allows everything (e.g. any user may own
       any name). Testing the real policy needs the stock system.conf defaults (deny own, deny
       send) instead of the permissive ones: still to do, with the bus-policy tests. -->
  <includedir>$RUN/system.d</includedir>
</busconfig>
EOF

    # ---- activatable services (the launch helper requires file name == Name= + ".service") ----
    cat >"$RUN/services/org.freedesktop.hostname1.service" <<EOF
[D-BUS Service]
Name=org.freedesktop.hostname1
Exec=/lib/systemd/systemd-hostnamed
User=root
EOF
    cat >"$RUN/services/org.freedesktop.PolicyKit1.service" <<EOF
[D-BUS Service]
Name=org.freedesktop.PolicyKit1
Exec=/usr/lib/polkit-1/polkitd --no-debug
User=root
EOF
    cat >"$RUN/services/org.freedesktop.resolve1.service" <<EOF
[D-BUS Service]
Name=org.freedesktop.resolve1
Exec=$RESOLVED_BIN
User=root
EOF
    # stand-in service for the self-test (runs as root: polkit only answers CheckAuthorization about
    # *other* processes for uid 0 callers or action owners).  It deliberately uses org.netlab.*
    # names only: org.freedesktop.NetworkBroker1 belongs to the real daemon under test.
    cat >"$RUN/services/org.netlab.FakeBroker1.service" <<EOF
[D-BUS Service]
Name=org.netlab.FakeBroker1
Exec=$RUN/bin/fake-broker.py org.netlab.FakeBroker1
User=root
EOF
    # shows whether User= is honoured (only with the launch helper)
    cat >"$RUN/services/org.netlab.Whoami1.service" <<EOF
[D-BUS Service]
Name=org.netlab.Whoami1
Exec=$RUN/bin/fake-broker.py org.netlab.Whoami1
User=nobody
EOF

    cat >"$RUN/bin/fake-broker.py" <<'EOF'
#!/usr/bin/python3
# Tiny D-Bus service used as a stand-in for a polkit-checking broker in lab self-tests (org.netlab.* names only).
import os, sys, time, dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib
NAME = sys.argv[1] if len(sys.argv) > 1 else "org.netlab.FakeBroker1"
PATH = "/" + NAME.replace(".", "/")
IFACE = NAME + ".Manager"
START = time.time()
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
addr = os.environ.get("DBUS_STARTER_ADDRESS")          # set by dbus-daemon / launch helper
bus = dbus.bus.BusConnection(addr) if addr else dbus.SystemBus()
loop = GLib.MainLoop()

class Svc(dbus.service.Object):
    @dbus.service.method(IFACE, in_signature="", out_signature="a{ss}", sender_keyword="sender")
    def Describe(self, sender=None):
        return {"pid": str(os.getpid()), "uid": str(os.getuid()), "gid": str(os.getgid()),
                "netns": os.readlink("/proc/self/ns/net"), "mntns": os.readlink("/proc/self/ns/mnt"),
                "hostname": os.uname().nodename, "sender": str(sender), "start": "%.6f" % START,
                "DBUS_STARTER_ADDRESS": os.environ.get("DBUS_STARTER_ADDRESS", ""),
                "DBUS_SYSTEM_BUS_ADDRESS": os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", ""),
                "PATH": os.environ.get("PATH", "")}
    @dbus.service.method(IFACE, in_signature="", out_signature="s", sender_keyword="sender")
    def Reload(self, sender=None):
        # polkit check with a system-bus-name subject, no user interaction (flags=0)
        auth = dbus.Interface(bus.get_object("org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority"),
                              "org.freedesktop.PolicyKit1.Authority")
        subject = ("system-bus-name", {"name": dbus.String(sender, variant_level=1)})
        ok, challenge, _ = auth.CheckAuthorization(subject, "org.netlab.selftest.reload", {}, dbus.UInt32(0), "")
        if not ok:
            raise dbus.exceptions.DBusException("not authorized (challenge=%s)" % bool(challenge),
                                                name="org.freedesktop.DBus.Error.AccessDenied")
        self.Reloaded("config")
        return "reloaded"
    @dbus.service.method(IFACE, in_signature="", out_signature="")
    def Quit(self):
        GLib.idle_add(loop.quit)
    @dbus.service.signal(IFACE, signature="s")
    def Reloaded(self, what):
        pass

name = dbus.service.BusName(NAME, bus, do_not_queue=True)
Svc(bus, PATH)
loop.run()
EOF
    chmod 755 "$RUN/bin/fake-broker.py"

    # ---- polkit actions: the host's + ours (polkitd 122 reads actions only from /usr/share/polkit-1/actions)
    cp -a /usr/share/polkit-1/actions/. "$RUN/polkit-actions/"
    # resolved's actions (not installed on the host) carry org.freedesktop.policykit.owner=unix-user:systemd-resolve;
    # without them polkit refuses resolved's CheckAuthorization for unprivileged callers ("Only trusted callers ...")
    cp -a "$RESOLVED_DIR/usr/share/polkit-1/actions/." "$RUN/polkit-actions/"
    # self-test actions: org.netlab.selftest.*, so that the project's own polkit/*.policy
    # (org.freedesktop.NetworkBroker1.*, installed by install-project) never collides with them
    cat >"$RUN/polkit-actions/org.netlab.selftest.policy" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1/policyconfig.dtd">
<policyconfig>
  <vendor>network-broker lab self-test (netlab)</vendor>
  <action id="org.netlab.selftest.reload">
    <description>netlab: like a broker reload (auth_admin for active sessions only)</description>
    <message>Authentication is required to reload.</message>
    <defaults>
      <allow_any>no</allow_any>
      <allow_inactive>no</allow_inactive>
      <allow_active>auth_admin</allow_active>
    </defaults>
  </action>
  <action id="org.netlab.selftest.challenge">
    <description>netlab: admin authentication required everywhere</description>
    <message>Authentication is required.</message>
    <defaults>
      <allow_any>auth_admin</allow_any>
      <allow_inactive>auth_admin</allow_inactive>
      <allow_active>auth_admin</allow_active>
    </defaults>
  </action>
  <action id="org.netlab.selftest.status">
    <description>netlab: allowed for everyone</description>
    <message>none</message>
    <defaults>
      <allow_any>yes</allow_any>
      <allow_inactive>yes</allow_inactive>
      <allow_active>yes</allow_active>
    </defaults>
  </action>
</policyconfig>
EOF
    chmod 644 "$RUN"/polkit-actions/*.policy

    # ---- systemd-networkd configuration (bind-mounted over /etc/systemd/network, hiding the host's)
    cat >"$RUN/network/10-labnd0.network" <<'EOF'
[Match]
Name=labnd0

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
UseDNS=yes
UseDomains=yes
UseHostname=yes
EOF
    cat >"$RUN/network/20-labnd1.network" <<'EOF'
[Match]
Name=labnd1

[Network]
Address=192.168.78.2/24
DNS=192.168.78.1
Domains=nd1.lab.test
LinkLocalAddressing=no
IPv6AcceptRA=no

[Route]
Destination=10.78.0.0/16
Gateway=192.168.78.1
EOF
    # labdh0 deliberately matches nothing -> "unmanaged" (dhclient owns it)

    # ---- files for the /etc overlay (upper layer)
    cp -a /etc/passwd /etc/group "$RUN/etc-upper/"
    # resolved (started as root) drops privileges to "systemd-resolve"; that user does not exist on
    # this host. It is added only to the lab's /etc/passwd; dbus-daemon runs in the same mount ns,
    # so it can resolve the uid (dbus-daemon rejects connections from uids it cannot look up).
    grep -q '^systemd-resolve:' "$RUN/etc-upper/passwd" || \
        echo 'systemd-resolve:x:990:990:systemd Resolver (netlab):/:/usr/sbin/nologin' >>"$RUN/etc-upper/passwd"
    grep -q '^systemd-resolve:' "$RUN/etc-upper/group" || echo 'systemd-resolve:x:990:' >>"$RUN/etc-upper/group"
    # the daemon's own user (packaging's sysusers.d creates it on a real system): the activation
    # file says User=network-broker (the launch helper refuses an unknown user), the bus policy
    # lets it own the name, and the polkit actions name it as their owner
    grep -q '^network-broker:' "$RUN/etc-upper/passwd" || \
        echo 'network-broker:x:989:989:network-broker (netlab):/:/usr/sbin/nologin' >>"$RUN/etc-upper/passwd"
    grep -q '^network-broker:' "$RUN/etc-upper/group" || echo 'network-broker:x:989:' >>"$RUN/etc-upper/group"
    echo labhost >"$RUN/etc-upper/hostname"
    echo "# netlab: written by dhclient-script inside the lab" >"$RUN/etc-upper/resolv.conf"
    cat >"$RUN/etc-upper/systemd/resolved.conf" <<'EOF'
[Resolve]
DNS=
FallbackDNS=
LLMNR=no
MulticastDNS=no
DNSSEC=no
DNSOverTLS=no
DNSStubListener=yes
EOF

    # ---- dnsmasq in the peer namespace: DHCP for labnd0p/labdh0p, DNS only for lab.test, no upstream
    cat >"$RUN/etc/dnsmasq.conf" <<EOF
no-resolv
no-hosts
no-poll
bind-interfaces
interface=labnd0p
interface=labdh0p
except-interface=lo
domain-needed
bogus-priv
local=/lab.test/
host-record=gw.lab.test,192.168.77.1
host-record=gw2.lab.test,192.168.79.1
dhcp-authoritative
dhcp-range=set:nd0,192.168.77.100,192.168.77.150,255.255.255.0,1h
dhcp-range=set:dh0,192.168.79.100,192.168.79.150,255.255.255.0,1h
dhcp-option=tag:nd0,option:router,192.168.77.1
dhcp-option=tag:nd0,option:dns-server,192.168.77.1,192.168.77.53
dhcp-option=tag:nd0,option:domain-name,nd0.lab.test
dhcp-option=tag:nd0,option:domain-search,nd0.lab.test,search.lab.test
dhcp-option=tag:dh0,option:router,192.168.79.1
dhcp-option=tag:dh0,option:dns-server,192.168.79.1,192.168.79.53
dhcp-option=tag:dh0,option:domain-name,dh0.lab.test
dhcp-option=tag:dh0,option:domain-search,dh0.lab.test,search.lab.test
# fixed address + host name (sent as option 12) per client MAC
dhcp-host=02:00:00:00:77:02,192.168.77.10,labclient-nd0
dhcp-host=02:00:00:00:79:02,192.168.79.10,labclient-dh0
dhcp-leasefile=$RUN/dhcp/dnsmasq.leases
pid-file=$RUN/pids/dnsmasq.pidfile
log-dhcp
log-facility=-
user=root
EOF

    # ---- mount setup executed once inside the new (persistent) mount + UTS namespace
    cat >"$RUN/etc/ns-setup.sh" <<EOF
#!/bin/sh
set -e
# /etc: overlay, so atomic rename()s (hostnamed, dhclient-script temp files, ...) land in etc-upper
mount -t overlay netlab-etc -o lowerdir=/etc,upperdir=$RUN/etc-upper,workdir=$RUN/etc-work /etc
mount --bind $RUN/network /etc/systemd/network
# fresh /run
mount -t tmpfs -o mode=755,nosuid,nodev netlab-run /run
mkdir -p /run/dbus /run/lock /run/user /run/netns /run/systemd
install -d -o systemd-network -g systemd-network /run/systemd/netif /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
mount --bind $RUN/bus /run/dbus
# sysfs of labhost, read-only: networkd then assumes a container and does not wait for udev
umount -l /sys
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
mount --bind $RUN/services /usr/share/dbus-1/system-services
mount --bind $RUN/polkit-actions /usr/share/polkit-1/actions
mount --bind $RUN/dhcp /var/lib/dhcp
hostname labhost
EOF
    chmod 755 "$RUN/etc/ns-setup.sh"
}

# ---- the project's own files in the lab (dbus policy, activation files, polkit actions)
# Used by the tests of the bus policy, activation and polkit-authorised methods.  Safe to run
# while the lab is up: dbus-daemon watches its servicedir and is told to reload its config;
# polkitd watches its actions dir.
install_project_files() {
    local f n=0
    for f in "$PROJECT_DIR"/polkit/*.policy; do
        [ -e "$f" ] || continue
        install -m 644 "$f" "$RUN/polkit-actions/"; n=$((n+1))
    done
    for f in "$PROJECT_DIR"/dbus/*.conf; do
        [ -e "$f" ] || continue
        install -m 644 "$f" "$RUN/system.d/"; n=$((n+1))
    done
    # polkit rules (polkit/rules.d/*.rules, e.g. the one that lets user network-broker set the
    # transient host name through hostnamed) go to the lab's /etc/polkit-1/rules.d.  During `up`
    # the /etc overlay is not mounted yet: write its upper dir.  In a running lab, write through
    # the lab's mount namespace (so the overlay sees the file and polkitd's inotify watch on
    # rules.d fires and it reloads its rules).
    for f in "$PROJECT_DIR"/polkit/rules.d/*.rules; do
        [ -e "$f" ] || continue
        if [ -e "$RUN/lab.env" ]; then
            lab install -D -m 644 "$f" "/etc/polkit-1/rules.d/$(basename "$f")"
        else
            install -D -m 644 "$f" "$RUN/etc-upper/polkit-1/rules.d/$(basename "$f")"
        fi
        n=$((n+1))
    done
    if [ -n "${LAB_BROKER_BIN:-}" ]; then
        # activation: the file name must be Name= + ".service" (launch helper); point Exec= at
        # the binary under test instead of the installed path
        for f in "$PROJECT_DIR"/dbus/*.service; do
            [ -e "$f" ] || continue
            sed "s|^Exec=[^ ]*|Exec=$LAB_BROKER_BIN|" "$f" >"$RUN/services/$(basename "$f")"
            chmod 644 "$RUN/services/$(basename "$f")"; n=$((n+1))
        done
    fi
    log "installed $n project file(s) from $PROJECT_DIR (dbus/*.conf, polkit/*.policy, polkit/rules.d/*.rules${LAB_BROKER_BIN:+, dbus/*.service})"
}

cmd_install_project() {
    [ -e "$RUN/lab.env" ] || die "lab is down (LAB_DIR=$LAB_DIR)"
    install_project_files
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig >/dev/null \
        || die "dbus-daemon refused to reload its configuration (see $RUN/log/dbus.log)"
}

# restart-resolved [--forget]: stop the lab's systemd-resolved (SIGTERM to the PID in
# $RUN/pids/resolved.pid, SIGKILL after 5 s) and start it again exactly as `up` does, for tests of
# clients that must notice a restart.  resolved saves the per-link settings it was given over the
# bus in /run/systemd/resolve/netif/<ifindex> and reloads them at start; --forget deletes them
# while it is stopped (as a lost /run would), so afterwards resolved knows only what clients push
# again.  The old log is kept as resolved.log.1.
cmd_restart_resolved() {
    [ -e "$RUN/lab.env" ] || die "lab is down (LAB_DIR=$LAB_DIR)"
    local forget=0 pid i
    case "${1:-}" in --forget) forget=1 ;; "") ;; *) die "usage: $0 restart-resolved [--forget]" ;; esac
    pid=$(cat "$RUN/pids/resolved.pid" 2>/dev/null || true)
    # only our resolved: a stale pid file must not make us kill whatever reuses the PID
    if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$RESOLVED_BIN" ]; then
        kill -TERM "$pid"
        for i in $(seq 50); do
            if [ ! -e "/proc/$pid" ] || [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = Z ]; then break; fi
            sleep 0.1
        done
        if [ -e "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
            log "resolved (PID $pid) ignored SIGTERM for 5 s: SIGKILL"; kill -KILL "$pid" || true
        fi
    else
        log "resolved is not running (pid file: ${pid:-none}); starting it"
    fi
    wait_for "org.freedesktop.resolve1 released" 10 sh -c "! busctl --system status org.freedesktop.resolve1"
    if [ "$forget" = 1 ]; then lab sh -c 'rm -f /run/systemd/resolve/netif/*'; fi
    mv -f "$RUN/log/resolved.log" "$RUN/log/resolved.log.1" 2>/dev/null || true
    daemon resolved "${LABCMD[@]}" env SYSTEMD_LOG_LEVEL="$LOG_LEVEL" "$RESOLVED_BIN"
    wait_for "org.freedesktop.resolve1" 10 on_bus org.freedesktop.resolve1
}

# $RUN/lab.env: what the test harness (tests/common/src/lab.rs) needs to reach the lab.  Written
# last by `up`, removed first by `down`: its presence means "the lab under this LAB_DIR is up".
write_lab_env() {
    cat >"$RUN/lab.env.tmp" <<EOF
# written by $0 up; removed by down
LAB_DIR=$LAB_DIR
LAB_RUN=$RUN
LAB_NETNS_HOST=$NS_HOST
LAB_NETNS_PEER=$NS_PEER
LAB_NETNS_HOST_PATH=/run/netns/$NS_HOST
LAB_MNTNS=$RUN/ns/mnt
LAB_UTSNS=$RUN/ns/uts
LAB_BUS_HOST=unix:path=$SOCK
LAB_BUS_INSIDE=unix:path=/run/dbus/system_bus_socket
LAB_RESOLVECTL=$RESOLVECTL
LAB_NS_PREFIX=$NS_PREFIX
LAB_LOG_LEVEL=$LOG_LEVEL
EOF
    mv "$RUN/lab.env.tmp" "$RUN/lab.env"
}

# namespaces created by this LAB_DIR (down removes only these unless LAB_FORCE_DOWN=1)
owned_netns() { cat "$RUN/netns-owned" 2>/dev/null || true; }

cmd_up() {
    preflight
    if [ -e "$RUN/lab.env" ] && ns_exists $NS_HOST; then
        die "lab is already up (LAB_DIR=$LAB_DIR; run: $0 down)"
    fi
    local ns
    for ns in $NS_HOST $NS_PEER; do
        if ns_exists "$ns"; then
            if grep -qx "$ns" <<<"$(owned_netns)"; then
                die "a stale lab from LAB_DIR=$LAB_DIR is still there (run: $0 down)"
            fi
            die "netns $ns exists but LAB_DIR=$LAB_DIR did not create it: another lab on this machine? (use LAB_NS_PREFIX=... or stop that lab)"
        fi
    done
    ensure_resolved
    is_mounted "$RUN/ns" && die "$RUN/ns still mounted (run: $0 down)"
    # from here on a failure tears the half-built lab down again (LAB_KEEP_ON_FAIL=1 to inspect it)
    UP_OK=0
    trap 'if [ "$UP_OK" != 1 ]; then
              for f in "$RUN"/log/*.log; do [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 5 "$f" >&2; }; done
              if [ "${LAB_KEEP_ON_FAIL:-0}" != 1 ]; then log "up failed -> tearing down"; cmd_down || true; fi
          fi' EXIT
    rm -rf "$RUN"
    gen_configs
    # The project's polkit actions must be known for its privileged methods to be checked.
    [ "${LAB_PROJECT_FILES:-1}" = 1 ] && install_project_files
    log "configs generated in $RUN"

    # ---- network namespaces and veth pairs (created directly inside the namespaces)
    printf '%s\n' $NS_HOST $NS_PEER >"$RUN/netns-owned"
    ip netns add $NS_HOST
    ip netns add $NS_PEER
    ip -n $NS_HOST link set lo up
    ip -n $NS_PEER link set lo up
    # padding pair in the peer netns first, so that no peer end has the same ifindex as its host end:
    # the kernel's linkwatch treats a carrier change of a device whose iflink == ifindex as not
    # urgent and reports it up to ~1 s late, coalescing faster flaps (carrier *down* is affected)
    ip -n $NS_PEER link add labpad0 type veth peer name labpad1
    ip link add labnd0 netns $NS_HOST address 02:00:00:00:77:02 type veth peer name labnd0p netns $NS_PEER address 02:00:00:00:77:01
    ip link add labnd1 netns $NS_HOST address 02:00:00:00:78:02 type veth peer name labnd1p netns $NS_PEER address 02:00:00:00:78:01
    ip link add labdh0 netns $NS_HOST address 02:00:00:00:79:02 type veth peer name labdh0p netns $NS_PEER address 02:00:00:00:79:01
    ip -n $NS_PEER addr add 192.168.77.1/24 dev labnd0p
    ip -n $NS_PEER addr add 192.168.78.1/24 dev labnd1p
    ip -n $NS_PEER addr add 192.168.79.1/24 dev labdh0p
    for l in labnd0p labnd1p labdh0p; do ip -n $NS_PEER link set $l up; done
    log "netns $NS_HOST/$NS_PEER + 3 veth pairs created"

    daemon dnsmasq ip netns exec $NS_PEER dnsmasq --keep-in-foreground --conf-file="$RUN/etc/dnsmasq.conf"
    wait_for "dnsmasq DHCP" 5 grep -q 'DHCP, IP range 192.168.77' "$RUN/log/dnsmasq.log"

    # ---- persistent mount + UTS namespace ("the lab machine")
    mount --bind "$RUN/ns" "$RUN/ns"
    mount --make-private "$RUN/ns"          # nsfs bind mounts are refused on shared mounts
    touch "$RUN/ns/mnt" "$RUN/ns/uts"
    unshare --mount="$RUN/ns/mnt" --uts="$RUN/ns/uts" --propagation private true
    "${NSENTER[@]}" /bin/sh "$RUN/etc/ns-setup.sh"
    log "lab mount+UTS namespace ready (overlay /etc, tmpfs /run, ro sysfs)"

    # ---- private system bus (inside the lab so that it sees the lab's /etc/passwd and so that
    #      activated services inherit netns/mount ns/UTS ns)
    daemon dbus "${LABCMD[@]}" dbus-daemon --config-file="$RUN/etc/bus.conf" --nofork --nopidfile
    wait_for "dbus socket" 5 test -S "$SOCK"
    wait_for "dbus answering" 5 busctl --system list

    daemon networkd "${NETWORKD_CMD[@]}"
    daemon resolved "${LABCMD[@]}" env SYSTEMD_LOG_LEVEL="$LOG_LEVEL" "$RESOLVED_BIN"
    daemon polkitd "${LABCMD[@]}" /usr/lib/polkit-1/polkitd
    wait_for "org.freedesktop.network1" 10 on_bus org.freedesktop.network1
    wait_for "org.freedesktop.resolve1" 10 on_bus org.freedesktop.resolve1
    wait_for "org.freedesktop.PolicyKit1" 10 on_bus org.freedesktop.PolicyKit1

    if [ "$WITH_DHCLIENT" = 1 ]; then
        daemon dhclient "${DHCLIENT_CMD[@]}"   # see DHCLIENT_CMD
    fi

    local idx
    idx=$(lab cat /sys/class/net/labnd0/ifindex)
    wait_for "networkd DHCP lease on labnd0 (/run/systemd/netif/leases/$idx)" 20 lab grep -q '^ADDRESS=' /run/systemd/netif/leases/$idx
    wait_for "networkd labnd1 configured" 20 sh -c "${NSENTER[*]} networkctl list --no-legend --no-pager | grep -q 'labnd1.*configured'"
    if [ "$WITH_DHCLIENT" = 1 ]; then
        wait_for "dhclient lease on labdh0" 20 grep -q 'bound to' "$RUN/log/dhclient.log"
    fi
    wait_for "hostnamed (bus activation)" 10 busctl --system get-property org.freedesktop.hostname1 /org/freedesktop/hostname1 org.freedesktop.hostname1 Hostname
    write_lab_env
    UP_OK=1
    log "lab up in $(ms) ms"
    cmd_env
}

lab_mntns_inode() { stat -L -c %i "$RUN/ns/mnt" 2>/dev/null || true; }

lab_pids() {   # lab_pids NETNS...: every process in those netns or in the lab mount ns
    local ino p ns
    {
        for ns in "$@"; do ip netns pids "$ns" 2>/dev/null || true; done
        ino=$(lab_mntns_inode)
        if [ -n "$ino" ]; then
            for p in /proc/[0-9]*; do
                [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "mnt:[$ino]" ] && echo "${p#/proc/}"
            done
        fi
    } | sort -un | grep -vx "$$" || true
}

cmd_down() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    rm -f "$RUN/lab.env"     # first: from now on tests no longer treat the lab as up
    local pids p i ns owned=()
    # only namespaces this LAB_DIR created: another lab with the same names (another LAB_DIR)
    # must not lose its processes to our down
    for ns in $NS_HOST $NS_PEER $NS_SCRATCH; do
        ns_exists "$ns" || continue
        if grep -qx "$ns" <<<"$(owned_netns)" || [ "${LAB_FORCE_DOWN:-0}" = 1 ]; then
            owned+=("$ns")
        else
            log "netns $ns exists but LAB_DIR=$LAB_DIR did not create it: left alone (LAB_FORCE_DOWN=1 removes it)"
        fi
    done
    pids=$(lab_pids "${owned[@]}")
    if [ -n "$pids" ]; then
        log "stopping PIDs: $(echo $pids)"
        for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
        for i in $(seq 50); do
            pids=$(for p in $pids; do
                       if [ -e /proc/$p ] && [ "$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null)" != Z ]; then echo $p; fi
                   done)
            [ -z "$pids" ] && break
            sleep 0.1
        done
        for p in $pids; do log "SIGKILL $p"; kill -KILL "$p" 2>/dev/null || true; done
    fi
    for f in "$RUN/ns/mnt" "$RUN/ns/uts" "$RUN/ns"; do
        if is_mounted "$f"; then umount "$f"; fi
    done
    for ns in "${owned[@]}"; do
        ip netns del "$ns"
    done
    if [ -d "$RUN" ]; then
        rm -rf "$LAB_DIR/last-logs"; cp -a "$RUN/log" "$LAB_DIR/last-logs" 2>/dev/null || true
        rm -rf "$RUN"
    fi
    log "lab down ($(ms) ms); logs of the last run kept in $LAB_DIR/last-logs"
}

cmd_status() {
    if [ ! -e "$RUN/lab.env" ]; then echo "lab is down (LAB_DIR=$LAB_DIR)"; return 1; fi
    echo "== namespaces:"; ip netns list | grep -E "^($NS_HOST|$NS_PEER)" || true
    echo "== processes:"; for p in $(lab_pids $(owned_netns)); do ps -o pid=,user=,args= -p "$p" 2>/dev/null || true; done
    echo "== bus ($SOCK):"; busctl --system list --no-pager --acquired 2>/dev/null | grep -v '^:' || true
    echo "== activatable:"; busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ListActivatableNames 2>/dev/null || true
    echo "== hostname (lab / host): $(lab hostname) / $(hostname)"
    echo "== links in $NS_HOST:"; lab networkctl list --no-pager 2>/dev/null || true
    lab ip -br addr
    echo "== resolved:"; lab "$RESOLVECTL" status --no-pager 2>/dev/null | sed -n '1,40p' || true
    echo "== networkd leases:"; lab sh -c 'for f in /run/systemd/netif/leases/*; do [ -e "$f" ] && { echo "-- $f"; cat "$f"; }; done' || true
    echo "== dhclient lease ($RUN/dhcp/dhclient.leases):"; tail -n 22 "$RUN/dhcp/dhclient.leases" 2>/dev/null || echo none
}

cmd_env() {
    cat <<EOF
# host side (same socket is /run/dbus/system_bus_socket inside the lab):
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$SOCK
# run something inside the lab machine:
#   $0 exec CMD...      (= ${NSENTER[*]} CMD...)
# resolvectl (not installed on the host): $RESOLVECTL
EOF
}

# ------------------------------------------------------------------------------------------
# networkd stop|start|restart (tests of what the broker does while networkd is away)

# the PID in $RUN/pids/networkd.pid, if that process is alive, is systemd-networkd and lives in
# this lab's mount namespace (a recycled PID, or another lab's networkd, is never signalled)
networkd_pid() {
    local pid exe ino
    pid=$(cat "$RUN/pids/networkd.pid" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1   # fails for a zombie too
    [ "${exe##*/}" = systemd-networkd ] || return 1
    ino=$(lab_mntns_inode)
    [ -n "$ino" ] && [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "mnt:[$ino]" ] || return 1
    echo "$pid"
}
off_bus() { ! on_bus "$1"; }
bus_owner_pid() {   # bus_owner_pid NAME: the PID owning NAME on the lab bus, empty if none
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        GetConnectionUnixProcessID s "$1" 2>/dev/null | awk '{print $2}' || true
}
owned_by() { [ "$(bus_owner_pid "$1")" = "$2" ]; }   # owned_by NAME PID

networkd_stop() {
    local pid i
    pid=$(networkd_pid) || die "networkd is not running (no live systemd-networkd of this lab at the PID in $RUN/pids/networkd.pid)"
    log "stopping networkd (PID $pid)"
    kill -TERM "$pid"
    for i in $(seq 100); do
        [ -d "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
        log "networkd (PID $pid) ignored SIGTERM for 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/pids/networkd.pid"
    wait_for "org.freedesktop.network1 to leave the bus" 10 off_bus org.freedesktop.network1
}

networkd_start() {
    local pid owner
    if pid=$(networkd_pid); then die "networkd is already running (PID $pid)"; fi
    owner=$(bus_owner_pid org.freedesktop.network1)
    [ -z "$owner" ] || die "org.freedesktop.network1 is owned by PID $owner, not by the lab's networkd: stop that process first"
    echo "=== netlab: networkd started again at $(date '+%F %T.%N')" >>"$RUN/log/networkd.log"
    daemon_append networkd "${NETWORKD_CMD[@]}"
    pid=$(cat "$RUN/pids/networkd.pid")
    wait_for "networkd (PID $pid) to own org.freedesktop.network1" 10 owned_by org.freedesktop.network1 "$pid"
}

cmd_networkd() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    [ -e "$RUN/lab.env" ] || die "lab is down (LAB_DIR=$LAB_DIR)"
    # the log level the lab was brought up with (lab.env), so a restart runs networkd the same way
    local level
    level=$(sed -n 's/^LAB_LOG_LEVEL=//p' "$RUN/lab.env")
    if [ -n "$level" ] && [ "$level" != "$LOG_LEVEL" ]; then
        LOG_LEVEL=$level
        NETWORKD_CMD=("${LABCMD[@]}" env SYSTEMD_LOG_LEVEL="$LOG_LEVEL" /lib/systemd/systemd-networkd)
    fi
    case "${1:-}" in
        stop)    networkd_stop ;;
        start)   networkd_start ;;
        restart) networkd_stop; networkd_start ;;
        *) echo "usage: $0 networkd {stop|start|restart}" >&2; exit 2 ;;
    esac
}

# ------------------------------------------------------------------------------------------
# bus stop|start|restart (tests of what happens when the system bus goes away and comes back)

# the PID of this lab's dbus-daemon, from its pid file, checked like networkd_pid
bus_pid() {
    local pid exe ino
    pid=$(cat "$RUN/pids/dbus.pid" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [ "${exe##*/}" = dbus-daemon ] || return 1
    ino=$(lab_mntns_inode)
    [ -n "$ino" ] && [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "mnt:[$ino]" ] || return 1
    echo "$pid"
}

bus_stop() {
    local pid
    pid=$(bus_pid) || die "the lab's dbus-daemon is not running (PID file $RUN/pids/dbus.pid)"
    log "stopping the lab's dbus-daemon (PID $pid)"
    # SIGKILL, as a crash would: nothing is said to the clients but the closed socket
    kill -KILL "$pid"
    wait_for "dbus-daemon (PID $pid) to be gone" 10 pid_gone "$pid"
    rm -f "$RUN/pids/dbus.pid" "$SOCK"
}

# a bus client of the lab (networkd, resolved, polkitd) whose process is alive and not on the
# bus a few seconds after the bus came back is stopped (by its PID) and started as `up` does
bus_client_back() {   # bus_client_back NAME BUS_NAME COMMAND...
    local name=$1 busname=$2 pid i; shift 2
    pid=$(cat "$RUN/pids/$name.pid" 2>/dev/null || true)
    for i in $(seq 20); do
        if [ -n "$pid" ] && owned_by "$busname" "$pid"; then log "$name (PID $pid) is back on the bus"; return 0; fi
        # polkitd is activatable: the new bus may have started one already
        if on_bus "$busname"; then log "$busname is owned by PID $(bus_owner_pid "$busname") (activated)"; return 0; fi
        if [ -z "$pid" ] || pid_gone "$pid"; then break; fi
        sleep 0.1
    done
    if [ -n "$pid" ] && ! pid_gone "$pid" && [ -d "/proc/$pid/ns" ] \
        && [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "mnt:[$(lab_mntns_inode)]" ]; then
        log "$name (PID $pid) did not come back to the bus: stopping it"
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 50); do pid_gone "$pid" && break; sleep 0.1; done
        pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "=== netlab: $name started again after a bus restart at $(date '+%F %T.%N')" >>"$RUN/log/$name.log"
    daemon_append "$name" "$@"
    wait_for "$busname on the new bus" 10 on_bus "$busname"
}

bus_start() {
    local pid
    if pid=$(bus_pid); then die "the lab's dbus-daemon is already running (PID $pid)"; fi
    echo "=== netlab: dbus-daemon started again at $(date '+%F %T.%N')" >>"$RUN/log/dbus.log"
    daemon_append dbus "${LABCMD[@]}" dbus-daemon --config-file="$RUN/etc/bus.conf" --nofork --nopidfile
    wait_for "dbus socket" 5 test -S "$SOCK"
    wait_for "dbus answering" 5 busctl --system list
    # the lab's services lost their connection with the old bus: each either reconnects by
    # itself or is started again, so the lab is whole when this returns
    bus_client_back networkd org.freedesktop.network1 "${NETWORKD_CMD[@]}"
    bus_client_back resolved org.freedesktop.resolve1 "${LABCMD[@]}" env SYSTEMD_LOG_LEVEL="$LOG_LEVEL" "$RESOLVED_BIN"
    bus_client_back polkitd org.freedesktop.PolicyKit1 "${LABCMD[@]}" /usr/lib/polkit-1/polkitd
}

cmd_bus() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    [ -e "$RUN/lab.env" ] || die "lab is down (LAB_DIR=$LAB_DIR)"
    local level
    level=$(sed -n 's/^LAB_LOG_LEVEL=//p' "$RUN/lab.env")
    if [ -n "$level" ] && [ "$level" != "$LOG_LEVEL" ]; then
        LOG_LEVEL=$level
        NETWORKD_CMD=("${LABCMD[@]}" env SYSTEMD_LOG_LEVEL="$LOG_LEVEL" /lib/systemd/systemd-networkd)
    fi
    case "${1:-}" in
        stop)    bus_stop ;;
        start)   bus_start ;;
        restart) bus_stop; bus_start ;;
        *) echo "usage: $0 bus {stop|start|restart}" >&2; exit 2 ;;
    esac
}

# ------------------------------------------------------------------------------------------
# dhclient release|stop|start|restart (tests of what the broker does when a lease goes away)

# the PID in $RUN/pids/dhclient.pid, if that process is alive, is dhclient and lives in this
# lab's mount namespace (a recycled PID, or another lab's dhclient, is never signalled)
dhclient_pid() {
    local pid exe ino
    pid=$(cat "$RUN/pids/dhclient.pid" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1   # fails for a zombie too
    [ "${exe##*/}" = dhclient ] || return 1
    ino=$(lab_mntns_inode)
    [ -n "$ino" ] && [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "mnt:[$ino]" ] || return 1
    echo "$pid"
}
pid_gone() { [ ! -d "/proc/$1" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }

dhclient_release() {
    local pid
    pid=$(dhclient_pid) || die "dhclient is not running (no live dhclient of this lab at the PID in $RUN/pids/dhclient.pid)"
    log "releasing labdh0's lease (dhclient -r; the running dhclient, PID $pid, is told to go)"
    echo "=== netlab: dhclient -r at $(date '+%F %T.%N')" >>"$RUN/log/dhclient.log"
    # `dhclient -r` reads the pid file, SIGTERMs that PID and waits for it, then sends a
    # DHCPRELEASE and runs dhclient-script with reason RELEASE; it exits by itself
    timeout 30 "${LABCMD[@]}" dhclient -v -r -pf "$RUN/pids/dhclient.pidfile" -lf "$DHCLIENT_LEASES" labdh0 \
        >>"$RUN/log/dhclient.log" 2>&1 || die "dhclient -r failed (see $RUN/log/dhclient.log)"
    wait_for "dhclient (PID $pid) to exit" 10 pid_gone "$pid"
    rm -f "$RUN/pids/dhclient.pid"
}

dhclient_stop() {
    local pid i
    pid=$(dhclient_pid) || die "dhclient is not running (no live dhclient of this lab at the PID in $RUN/pids/dhclient.pid)"
    log "stopping dhclient (PID $pid, no release)"
    kill -TERM "$pid"
    for i in $(seq 100); do pid_gone "$pid" && break; sleep 0.1; done
    if ! pid_gone "$pid"; then
        log "dhclient (PID $pid) ignored SIGTERM for 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/pids/dhclient.pid"
}

dhclient_start() {
    local pid bound
    if pid=$(dhclient_pid); then die "dhclient is already running (PID $pid)"; fi
    bound=$(grep -c 'bound to' "$RUN/log/dhclient.log" 2>/dev/null || true)
    echo "=== netlab: dhclient started again at $(date '+%F %T.%N')" >>"$RUN/log/dhclient.log"
    daemon_append dhclient "${DHCLIENT_CMD[@]}"
    pid=$(cat "$RUN/pids/dhclient.pid")
    wait_for "dhclient (PID $pid) bound on labdh0" 30 \
        sh -c "[ \$(grep -c 'bound to' '$RUN/log/dhclient.log') -gt ${bound:-0} ]"
}

cmd_dhclient() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    [ -e "$RUN/lab.env" ] || die "lab is down (LAB_DIR=$LAB_DIR)"
    case "${1:-}" in
        release) dhclient_release ;;
        stop)    dhclient_stop ;;
        start)   dhclient_start ;;
        restart) dhclient_stop; dhclient_start ;;
        *) echo "usage: $0 dhclient {release|stop|start|restart}" >&2; exit 2 ;;
    esac
}

# ------------------------------------------------------------------------------------------
# selftest
PASS=0; FAIL=0
ok()  { PASS=$((PASS+1)); printf '  PASS  %s\n' "$*"; }
bad() { FAIL=$((FAIL+1)); printf '  FAIL  %s\n' "$*"; }
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi; }
starttime() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $20}'; }
polkit_check() {  # polkit_check PID UID ACTION -> "true false" etc.
    busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
        org.freedesktop.PolicyKit1.Authority CheckAuthorization '(sa{sv})sa{ss}us' \
        unix-process 3 pid u "$1" start-time t "$(starttime "$1")" uid i "$2" "$3" 0 0 "" | awk '{print $2, $3}'
}
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

cmd_selftest() {
    [ -e "$RUN/lab.env" ] || die "lab is down (LAB_DIR=$LAB_DIR)"
    local idx out t0 t1 rootpid nobpid
    echo "== 1a. networkd DHCP client lease"
    idx=$(lab cat /sys/class/net/labnd0/ifindex)
    out=$(lab cat /run/systemd/netif/leases/$idx)
    for k in ADDRESS=192.168.77.10 ROUTER=192.168.77.1 'DNS=192.168.77.1 192.168.77.53' DOMAINNAME=nd0.lab.test \
             'DOMAIN_SEARCH_LIST=nd0.lab.test search.lab.test' HOSTNAME=labclient-nd0 LIFETIME= CLIENTID=; do
        grep -q "^$k" <<<"$out" && ok "lease/$idx has $k" || bad "lease/$idx lacks $k"
    done
    echo "== 1b. dhclient lease file"
    if [ "$WITH_DHCLIENT" = 1 ]; then
        for k in 'interface "labdh0"' 'fixed-address 192.168.79.10' 'option routers 192.168.79.1' \
                 'option domain-name-servers 192.168.79.1,192.168.79.53' 'option domain-search "dh0.lab.test.", "search.lab.test."' \
                 'option host-name "labclient-dh0"' 'option domain-name "dh0.lab.test"'; do
            grep -qF "$k" "$RUN/dhcp/dhclient.leases" && ok "dhclient.leases: $k" || bad "dhclient.leases lacks: $k"
        done
        check "lab /etc/resolv.conf written by dhclient-script" lab grep -q 'nameserver 192.168.79.1' /etc/resolv.conf
        check "host /etc/resolv.conf untouched" sh -c '! grep -q 192.168.79 /etc/resolv.conf'
    fi

    echo "== 2. systemd-resolved SetLinkDNS / SetLinkDomains (labdh0, unmanaged by networkd)"
    idx=$(lab cat /sys/class/net/labdh0/ifindex)
    check "SetLinkDNS $idx" lab busctl call org.freedesktop.resolve1 /org/freedesktop/resolve1 org.freedesktop.resolve1.Manager \
        SetLinkDNS 'ia(iay)' "$idx" 2 2 4 192 168 79 1 2 4 192 168 79 53
    check "SetLinkDomains $idx" lab busctl call org.freedesktop.resolve1 /org/freedesktop/resolve1 org.freedesktop.resolve1.Manager \
        SetLinkDomains 'ia(sb)' "$idx" 2 dh0.lab.test false lab.test true
    out=$(lab busctl get-property org.freedesktop.resolve1 /org/freedesktop/resolve1/link/_3$idx org.freedesktop.resolve1.Link DNS Domains)
    echo "     read back: $(echo $out)"
    grep -q '^a(iay) 2 2 4 192 168 79 1 2 4 192 168 79 53' <<<"$out" && ok "DNS read back" || bad "DNS read back"
    grep -q '"lab.test" true' <<<"$out" && ok "Domains read back" || bad "Domains read back"
    check "resolvectl query gw2.lab.test (answered by dnsmasq in labpeer)" sh -c "${NSENTER[*]} timeout 10 $RESOLVECTL query --no-pager gw2.lab.test | grep -q 192.168.79.1"
    out=$(lab busctl call org.freedesktop.resolve1 /org/freedesktop/resolve1 org.freedesktop.resolve1.Manager \
        SetLinkDNS 'ia(iay)' "$(lab cat /sys/class/net/labnd0/ifindex)" 1 2 4 192 168 77 99 2>&1 || true)
    grep -q 'is managed' <<<"$out" && ok "SetLinkDNS on networkd-managed labnd0 refused: $out" || bad "managed link: $out"
    out=$(lab setpriv --reuid=65534 --regid=65534 --clear-groups busctl call org.freedesktop.resolve1 /org/freedesktop/resolve1 \
        org.freedesktop.resolve1.Manager SetLinkDNS 'ia(iay)' "$idx" 1 2 4 192 168 79 1 2>&1 || true)
    grep -qi 'interactive authentication\|access denied' <<<"$out" && ok "unprivileged SetLinkDNS refused via polkit: $out" || bad "unprivileged SetLinkDNS: $out"
    check "RevertLink $idx" lab busctl call org.freedesktop.resolve1 /org/freedesktop/resolve1 org.freedesktop.resolve1.Manager RevertLink i "$idx"

    echo "== 3. systemd-hostnamed SetStaticHostname"
    local host_before; host_before="$(hostname) $(cat /etc/hostname)"
    check "SetStaticHostname labselftest" lab busctl call org.freedesktop.hostname1 /org/freedesktop/hostname1 org.freedesktop.hostname1 SetStaticHostname sb labselftest false
    out=$(busctl --system get-property org.freedesktop.hostname1 /org/freedesktop/hostname1 org.freedesktop.hostname1 StaticHostname)
    [ "$out" = 's "labselftest"' ] && ok "StaticHostname read back: $out" || bad "StaticHostname: $out"
    [ "$(lab hostname)" = labselftest ] && ok "lab kernel hostname = labselftest" || bad "lab hostname $(lab hostname)"
    [ "$(cat "$RUN/etc-upper/hostname")" = labselftest ] && ok "lab /etc/hostname (overlay upper) updated" || bad "upper hostname"
    [ "$(hostname) $(cat /etc/hostname)" = "$host_before" ] && ok "host hostname and /etc/hostname unchanged ($host_before)" || bad "HOST HOSTNAME CHANGED"
    out=$("${NOBODY[@]}" busctl --system call org.freedesktop.hostname1 /org/freedesktop/hostname1 org.freedesktop.hostname1 SetStaticHostname sb evil false 2>&1 || true)
    grep -qi 'denied\|auth' <<<"$out" && ok "unprivileged SetStaticHostname refused: $out" || bad "unprivileged SetStaticHostname: $out"
    lab busctl call org.freedesktop.hostname1 /org/freedesktop/hostname1 org.freedesktop.hostname1 SetStaticHostname sb labhost false

    echo "== 4. polkit CheckAuthorization (no agent, no logind session)"
    sleep 30 & rootpid=$!
    "${NOBODY[@]}" sleep 30 & nobpid=$!
    sleep 0.1
    out=$(polkit_check $rootpid 0 org.netlab.selftest.reload);      [ "$out" = "true false" ]  && ok "unix-process root   reload    -> $out" || bad "root reload -> $out"
    out=$(polkit_check $nobpid 65534 org.netlab.selftest.reload);   [ "$out" = "false false" ] && ok "unix-process nobody reload    -> $out" || bad "nobody reload -> $out"
    out=$(polkit_check $nobpid 65534 org.netlab.selftest.challenge);[ "$out" = "false true" ]  && ok "unix-process nobody challenge -> $out (is_challenge)" || bad "nobody challenge -> $out"
    out=$(polkit_check $nobpid 65534 org.netlab.selftest.status);   [ "$out" = "true false" ]  && ok "unix-process nobody status    -> $out" || bad "nobody status -> $out"
    kill $rootpid $nobpid 2>/dev/null || true; wait $rootpid $nobpid 2>/dev/null || true
    check "pkcheck root rc=0" pkcheck --action-id org.netlab.selftest.reload --process $$
    "${NOBODY[@]}" sh -c 'exec pkcheck --action-id org.netlab.selftest.reload --process $$' >/dev/null 2>&1 && bad "pkcheck nobody authorized?!" || ok "pkcheck nobody rc=$? (1 = not authorized)"
    out=$(busctl --system call org.netlab.FakeBroker1 /org/netlab/FakeBroker1 org.netlab.FakeBroker1.Manager Reload 2>&1 || true)
    [ "$out" = 's "reloaded"' ] && ok "system-bus-name subject, root caller -> $out" || bad "root Reload -> $out"
    out=$("${NOBODY[@]}" busctl --system call org.netlab.FakeBroker1 /org/netlab/FakeBroker1 org.netlab.FakeBroker1.Manager Reload 2>&1 || true)
    grep -q 'denied\|not authorized' <<<"$out" && ok "system-bus-name subject, nobody caller -> $out" || bad "nobody Reload -> $out"

    echo "== 5. D-Bus activation (LAB_BUS_HELPER=$BUS_HELPER)"
    busctl --system call org.netlab.Whoami1 /org/netlab/Whoami1 org.netlab.Whoami1.Manager Quit >/dev/null 2>&1 && sleep 0.3 || true
    on_bus org.netlab.Whoami1 && bad "Whoami1 still running" || true
    t0=$(date +%s%N)
    out=$(busctl --system call org.netlab.Whoami1 /org/netlab/Whoami1 org.netlab.Whoami1.Manager Describe 2>&1 || true)
    t1=$(date +%s%N)
    echo "     $out"
    grep -q '"uid"' <<<"$out" && ok "activated org.netlab.Whoami1 + first call in $(( (t1-t0)/1000000 )) ms" || bad "activation: $out"
    if [ "$BUS_HELPER" = 1 ]; then
        grep -q '"uid" "65534"' <<<"$out" && ok "User=nobody honoured by launch helper" || bad "User= not honoured"
    else
        grep -q '"uid" "0"' <<<"$out" && ok "no servicehelper: User= ignored, runs as root (expected)" || bad "uid?"
    fi
    grep -qF "$(readlink /proc/$(cat "$RUN/pids/networkd.pid")/ns/net)" <<<"$out" && ok "activated service runs in netns $NS_HOST" || bad "activated service netns"
    t0=$(date +%s%N); busctl --system call org.netlab.Whoami1 /org/netlab/Whoami1 org.netlab.Whoami1.Manager Describe >/dev/null; t1=$(date +%s%N)
    ok "warm call $(( (t1-t0)/1000000 )) ms"
    busctl --system call org.netlab.Whoami1 /org/netlab/Whoami1 org.netlab.Whoami1.Manager Quit >/dev/null 2>&1 || true

    echo "== 6. networkd PropertiesChanged on peer link down/up"
    local mon="$RUN/log/selftest-monitor.log"
    timeout 4 busctl --system monitor --no-pager \
        --match "type='signal',sender='org.freedesktop.network1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'" >"$mon" 2>&1 &
    local mpid=$!
    sleep 0.5; ip -n $NS_PEER link set labnd1p down; sleep 1; ip -n $NS_PEER link set labnd1p up
    wait $mpid || true
    out=$(grep -c 'Path=/org/freedesktop/network1/link/_3' "$mon" || true)
    [ "$out" -gt 0 ] && ok "$out Link PropertiesChanged signals (no-carrier -> configured)" || bad "no networkd signals"
    grep -q '"no-carrier"' "$mon" && ok "saw OperationalState no-carrier" || bad "no no-carrier seen"

    echo "== 7. rtnetlink isolation"
    local m1="$RUN/log/selftest-ipmon-host.log" m2="$RUN/log/selftest-ipmon-root.log"
    "${LABCMD[@]}" ip monitor address >"$m1" 2>&1 & local p1=$!
    ip monitor address >"$m2" 2>&1 & local p2=$!
    sleep 0.3
    ip -n $NS_PEER addr add 10.98.0.1/32 dev lo; ip -n $NS_HOST addr add 10.97.0.1/32 dev lo
    sleep 0.3; kill $p1 $p2; wait $p1 $p2 2>/dev/null || true
    ip -n $NS_PEER addr del 10.98.0.1/32 dev lo; ip -n $NS_HOST addr del 10.97.0.1/32 dev lo
    grep -q 10.97.0.1 "$m1" && ok "labhost listener sees labhost event" || bad "labhost listener missed its own event"
    grep -q 10.98.0.1 "$m1" && bad "labhost listener saw labpeer event" || ok "labhost listener does not see labpeer event"
    grep -q '10.9[78].0.1' "$m2" && bad "root-ns listener saw lab events" || ok "root-ns listener sees no lab events"

    echo "== 8. event generation rate (scratch netns $NS_SCRATCH)"
    echo "$NS_SCRATCH" >>"$RUN/netns-owned"   # so that down removes it if the selftest dies here
    ip netns add $NS_SCRATCH
    ip -n $NS_SCRATCH link add labst0 type veth peer name labst1
    ip -n $NS_SCRATCH link set labst0 up
    local b="$RUN/log/selftest-batch"
    $PY -c '
for op in ("add", "del"):
    for i in range(1000): print(f"addr {op} 10.200.{i//250}.{i%250+1}/32 dev labst0")' >"$b"
    t0=$(date +%s%N); ip -n $NS_SCRATCH -batch "$b"; t1=$(date +%s%N)
    ok "1000 addr add + 1000 addr del with ip -batch: $(( (t1-t0)/1000000 )) ms"
    $PY -c '
for i in range(100): print(f"link add labv{i} type veth peer name labw{i}")
for i in range(100): print(f"link set labv{i} up")
for i in range(100): print(f"link set labv{i} group 42")' >"$b"
    t0=$(date +%s%N); ip -n $NS_SCRATCH -batch "$b"; t1=$(date +%s%N); ip -n $NS_SCRATCH link del group 42; local t2=$(date +%s%N)
    ok "100 veth pairs create+up: $(( (t1-t0)/1000000 )) ms, delete as one group: $(( (t2-t1)/1000000 )) ms"
    ip netns del $NS_SCRATCH

    echo "== selftest: $PASS passed, $FAIL failed"
    [ "$FAIL" = 0 ]
}

case "${1:-}" in
    up)       cmd_up ;;
    down)     cmd_down ;;
    status)   cmd_status ;;
    selftest) cmd_selftest ;;
    restart-resolved) shift; cmd_restart_resolved "$@" ;;   # see cmd_restart_resolved
    env)      cmd_env ;;
    exec)     shift   # like lab(), but keep the caller's working directory (/tmp, /root, ... are shared);
              # exec, so that "netlab.sh exec DAEMON &" leaves $! = the daemon's PID
              exec nsenter --mount="$RUN/ns/mnt" --uts="$RUN/ns/uts" --net="/run/netns/$NS_HOST" --wd="$PWD" \
                  env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket "$@" ;;
    peer)     shift; ip netns exec $NS_PEER "$@" ;;
    install-project) cmd_install_project ;;
    networkd) shift; cmd_networkd "$@" ;;
    dhclient) shift; cmd_dhclient "$@" ;;
    bus)      shift; cmd_bus "$@" ;;
    *) echo "usage: $0 {up|down|status|selftest|env|install-project|networkd stop|start|restart|bus stop|start|restart|dhclient release|stop|start|restart|exec CMD...|peer CMD...}" >&2; exit 2 ;;
esac

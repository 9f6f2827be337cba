#!/bin/bash
# deps.sh - install the Debian 12 packages that the build and the tests need (run as root).
#
#   tests/lab/deps.sh           install what is missing (apt-get update first when needed)
#   tests/lab/deps.sh --update  always run apt-get update first (CI: a fresh machine's lists may be old)
#   tests/lab/deps.sh --check   only report what is missing (exit 1 if anything is)
#   tests/lab/deps.sh --list    print the package names
#
# Used by `make deps` (and so `make test`, `make demo`) and by .ci/run.  The lab's own preflight
# (netlab.sh REQUIRED_CMDS) names the same packages; keep the two in step.
#
# --no-upgrade: packages that are already installed are left at their version.  In particular
# systemd and libsystemd-shared must not move under the lab: netlab.sh unpacks the
# systemd-resolved .deb of exactly the installed libsystemd-shared version.
# --no-install-recommends: nothing the tests do not use (no resolvconf, no dns-root-data).
set -euo pipefail

PACKAGES=(
    # the lab's tools
    iproute2            # ip: namespaces, veths, addresses, routes, ip -batch
    util-linux          # nsenter, unshare, setsid, setpriv, findmnt
    coreutils mawk procps
    # the real daemons the lab runs
    dbus dbus-daemon dbus-bin dbus-system-bus-common   # private system bus, launch helper, messagebus user
    systemd             # systemd-networkd, systemd-hostnamed, busctl, networkctl, libsystemd-shared
    polkitd             # polkitd, pkcheck
    dnsmasq-base        # DHCP + DNS server in the peer namespace
    isc-dhcp-client     # dhclient + dhclient-script on labdh0
    python3 python3-dbus python3-gi   # the lab's stand-in bus services (selftest, org.netlab.*), examples/follow-links.py
    # fetching systemd-resolved without installing it (apt-get download + dpkg -x)
    apt dpkg
    # the build
    make gcc
    # the Debian package (make deb, docs/packaging.md) and checking its man pages render
    debhelper dpkg-dev fakeroot pkg-config man-db
)

case "${1:-}" in
    --list) printf '%s\n' "${PACKAGES[@]}"; exit 0 ;;
    ""|--update|--check) ;;
    *) echo "usage: $0 [--update|--check|--list]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ "${1:-}" = --check ]; then
    if [ ${#missing[@]} -gt 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run: sudo make deps)"
        exit 1
    fi
    echo "all ${#PACKAGES[@]} Debian packages are installed"
    exit 0
fi

# the lab downloads systemd-resolved with apt-get download: that needs package lists too
need_lists=0
cand=$(apt-cache policy systemd-resolved 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_lists=1; fi

if [ ${#missing[@]} -eq 0 ] && [ "$need_lists" = 0 ] && [ "${1:-}" != --update ]; then
    echo "deps: all ${#PACKAGES[@]} Debian packages are installed"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "deps: missing packages (${missing[*]:-package lists}); run as root: sudo make deps" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get update"
apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    apt-get install -y -q --no-install-recommends --no-upgrade "${missing[@]}"
fi
echo "deps: all ${#PACKAGES[@]} Debian packages are installed"

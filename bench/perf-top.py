#!/usr/bin/python3
# bench/perf-top.py - the top entries of a `perf record --call-graph dwarf` profile of
# network-broker, self and inclusive ("children"), by function.
#
#   bench/perf-top.py PERF.DATA BINARY [N [PID]]
#
# With PID, only the samples of that process count (perf record -p follows the hooks the daemon
# starts, too); dispatch.sh --perf leaves the daemon's PID in NAME.pid next to NAME.data.
#
# Why not `perf report`: rustc links with lld, whose executable segment has a file offset that
# differs from its virtual address (readelf -l), and perf 6.1 (Debian 12) then finds no symbol
# in the binary at all ("... not found, continuing without symbols"). This script takes perf's
# map-relative addresses (file offsets) from `perf script`, turns them into virtual addresses
# with the binary's PT_LOAD headers and looks them up in its symbol table (`nm -C`). Frames in
# other objects (libc, the kernel) keep the names perf gives them.
import bisect
import collections
import re
import subprocess
import sys

if len(sys.argv) < 3:
    sys.exit("usage: perf-top.py PERF.DATA BINARY [N]")
data, binary = sys.argv[1], sys.argv[2]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
only_pid = sys.argv[4] if len(sys.argv) > 4 else None

loads = []   # (offset, vaddr, size)
for line in subprocess.run(["readelf", "-l", "-W", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split()
    if f and f[0] == "LOAD":
        loads.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))

syms = []    # (vaddr, size, name)
for line in subprocess.run(["nm", "-C", "-S", "--defined-only", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split(" ", 3)
    if len(f) == 4 and f[2] in "tTwW":
        syms.append((int(f[0], 16), int(f[1], 16), f[3]))
syms.sort()
starts = [s[0] for s in syms]
base = binary.rsplit("/", 1)[-1]


def symbol(offset):
    for off, vaddr, size in loads:
        if off <= offset < off + size:
            addr = offset - off + vaddr
            break
    else:
        return f"{base}+{offset:#x}"
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and addr < syms[i][0] + max(syms[i][1], 1):
        # the hash suffix of legacy-mangled names says nothing to a reader
        return re.sub(r"::h[0-9a-f]{16}$", "", syms[i][2])
    return f"{base}+{offset:#x}"


frame = re.compile(r"^\s+([0-9a-f]+) (.*) \((.*)\)$")
selfc = collections.Counter()
children = collections.Counter()
threads = collections.Counter()
samples = 0
chain = []
comm = ""


def flush():
    global samples
    if not chain:
        return
    samples += 1
    threads[comm] += 1
    selfc[chain[0]] += 1
    for name in set(chain):
        children[name] += 1


out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,ip,sym,dso"]
                     + (["--pid", only_pid] if only_pid else []),
                     capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    m = frame.match(line)
    if m:
        ip, sym, dso = m.groups()
        if dso.endswith("/" + base):
            chain.append(symbol(int(ip, 16)))
        else:
            name = sym if sym != "[unknown]" else "?"
            chain.append(f"{name} [{dso.rsplit('/', 1)[-1]}]")
    elif line.strip():
        flush()
        chain = []
        comm = line.split()[0]
        comm = "tokio-runtime-worker" if comm.startswith("tokio-rt") else comm
flush()

print(f"{samples} samples; by thread: " + ", ".join(f"{c} {100 * n / samples:.0f}%" for c, n in threads.most_common()))
print(f"\nself, top {top}:")
for name, n in selfc.most_common(top):
    print(f"  {100 * n / samples:5.1f}%  {name[:150]}")
# The runtime's and the kernel's plumbing (thread start, the scheduler, task polling, the
# syscall entry) is in nearly every stack and says nothing: left out of the inclusive list.
plumbing = re.compile(r"^(tokio::runtime::|std::|core::ops::function::|<std::|<core::future::|"
                      r"<tokio_util::task::task_tracker|<tracing::instrument::Instrumented|"
                      r"clone3 |start_thread |do_syscall_64 |entry_SYSCALL_64|"
                      r"network_broker::main$|main$|__libc_start|_start$|_start |\? \[)")
print(f"\ninclusive (children), top {top}, without the runtime's and syscalls' plumbing:")
for name, n in [(k, v) for k, v in children.most_common() if not plumbing.match(k)][:top]:
    print(f"  {100 * n / samples:5.1f}%  {name[:150]}")

#!/usr/bin/python3
# bench/latency-split.py - where one toggle's latency goes (docs/benchmarks.md, "CPU and
# latency, 2026-12-04"): networkd's routable signal -> the daemon's log line of the
# transition -> the daemon's fork of the hook -> the hook's exec -> the exec of the hook's
# first `date` -> the time stamp that `date` prints.
#
#   bench/latency-split.py SCHED.DATA WORK
#
# SCHED.DATA: `bench/dispatch.sh --sched DIR` (DIR/toggles-sched.data, with the daemon's PID
# in DIR/toggles-sched.pid beside it); WORK: the same run's `--keep-data` directory (its
# monitor.json, nb.log, hooks.log and ifindex). perf recorded with the monotonic clock;
# DIR/toggles-sched.offset (realtime - monotonic, ns, taken when it started) turns its times
# into the realtime of the monitor, the log and the hook.
import datetime
import json
import re
import statistics
import subprocess
import sys

if len(sys.argv) != 3:
    sys.exit("usage: latency-split.py SCHED.DATA WORK")
data, work = sys.argv[1], sys.argv[2]
daemon = int(open(re.sub(r"\.data$", ".pid", data)).read())
offset = int(open(re.sub(r"\.data$", ".offset", data)).read())

# (time ns, event, pid (process), fields)
events = []
out = subprocess.run(["perf", "script", "-i", data, "--ns", "-F", "pid,time,event,trace"],
                     capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    m = re.match(r"\s*(\d+)\s+(\d+)\.(\d+):\s+sched:(\S+):\s+(.*)", line)
    if not m:
        continue
    fields = dict(re.findall(r"(\w+)=(\S+)", m.group(5)))
    events.append((int(m.group(2)) * 10**9 + int(m.group(3)) + offset, m.group(4), int(m.group(1)), fields))
events.sort()

forks = {}      # child pid -> (time, parent process)
execs = {}      # pid -> [times]
children = {}   # parent pid -> [(time, child pid)]
for t, kind, pid, f in events:
    if kind == "sched_process_fork":
        child = int(f["child_pid"])
        forks[child] = (t, pid)
        children.setdefault(pid, []).append((t, child))
    elif kind == "sched_process_exec":
        execs.setdefault(pid, []).append(t)

index = {}
for line in open(f"{work}/ifindex"):
    i, name = line.split()
    index[name] = int(i)
path = f"/org/freedesktop/network1/link/_3{index['labnd1']}"
signals = []
for line in open(f"{work}/monitor.json"):
    m = json.loads(line)
    if m.get("path") == path and m.get("member") == "PropertiesChanged":
        changed = m["payload"]["data"][1]
        if changed.get("OperationalState", {}).get("data") == "routable":
            signals.append(m["timestamp-realtime"] * 1000)
logged = []
for line in open(f"{work}/nb.log", errors="replace"):
    m = re.match(r"(\S+)Z\s+INFO labnd1: OperationalState=routable", line)
    if m:
        t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
        logged.append(int(t.timestamp() * 1e6) * 1000)
hooks = [int(l.split()[0]) for l in open(f"{work}/hooks.log") if l.split()[2:3] == ["labnd1"]]

first, last = events[0][0], events[-1][0]
parts = {k: [] for k in ("signal->log", "log->fork", "fork->exec", "exec->date exec",
                         "date exec->stamp", "total")}
for stamp in hooks:
    if not first <= stamp <= last:
        continue
    # the daemon's fork of this hook: its last fork of a child that exec'd before the stamp
    spawned = [(t, c) for t, c in children.get(daemon, []) if t < stamp and execs.get(c)]
    if not spawned:
        continue
    fork_t, hook = spawned[-1]
    hook_exec = execs[hook][0]
    # the hook's `$(date)`: a child of the hook (dash forks for the command substitution)
    # whose exec comes before the stamp
    dates = [execs[c][-1] for t, c in children.get(hook, []) if execs.get(c) and execs[c][-1] < stamp]
    if not dates:
        continue
    date_exec = dates[0]
    sig = max([s for s in signals if s <= stamp] or [0])
    log = max([t for t in logged if t <= fork_t] or [0])
    if not sig or not log or stamp - sig > 250e6:
        continue
    for key, value in (("signal->log", log - sig), ("log->fork", fork_t - log),
                       ("fork->exec", hook_exec - fork_t), ("exec->date exec", date_exec - hook_exec),
                       ("date exec->stamp", stamp - date_exec), ("total", stamp - sig)):
        parts[key].append(value / 1e6)

n = len(parts["total"])
print(f"{n} toggles split (of {len(hooks)} labnd1 hooks); medians, ms:")
for key, values in parts.items():
    if values:
        print(f"  {key:18} {statistics.median(values):6.2f}   (min {min(values):.2f}, max {max(values):.2f})")

#!/usr/bin/python3
"""Follow network-broker's links and resume where the last run stopped.

A subscriber written against the bus API only (python3-dbus and python3-gi, the Debian
packages): it prints one line per event of the daemon's event stream, in order, each once,
across its own restarts and the daemon's (docs/dbus-api.md, "The event stream").

    SEQUENCE SIGNAL LINK DETAIL        an event, e.g. `42 AddressAdded eth1 192.0.2.7/24`
    RESYNC REASON                      the events since the last line cannot all be had;
    STATE IFINDEX NAME OPERSTATE       the links as they are now follow, one line each

How it resumes: it keeps the stream's identity and the last sequence number it printed in
the state file (--state), written after each line. On start it subscribes to the Manager's
signals first, then asks `EventsSince(last)` for what it missed, prints that, and then the
live signals, skipping those the reply already held (by number). When the reply is not
complete (the history no longer reaches back that far), it re-reads the links and goes on
from there. When it comes from another stream (the daemon restarted: what changed while
none ran is in no history), it re-reads the links, then prints the new run's events from its
first, as far as the history holds them. A daemon that restarts while this runs is noticed
by its new bus name, and handled the same way.

It stops at SIGTERM or SIGINT between two events, so every line printed is in the state
file; after SIGKILL the last event may be printed again. Run it from a directory without a
`dbus/` folder of its own (the repository's root has one, which would shadow the module).
"""

import argparse
import json
import os
import signal
import sys

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

BUS_NAME = "org.freedesktop.NetworkBroker1"
MANAGER_PATH = "/org/freedesktop/NetworkBroker1"
MANAGER_IFACE = "org.freedesktop.NetworkBroker1.Manager"
LINK_IFACE = "org.freedesktop.NetworkBroker1.Link"


class Follower:
    def __init__(self, bus, state_path):
        self.bus = bus
        self.state_path = state_path
        self.stream, self.last = self.load()
        self.owner = None
        self.names = {}

    # --- the state file -------------------------------------------------------------
    def load(self):
        try:
            with open(self.state_path) as f:
                state = json.load(f)
            return state["stream"], int(state["sequence"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, 0

    def save(self):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"stream": self.stream, "sequence": self.last}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    # --- output ---------------------------------------------------------------------
    def line(self, text):
        print(text, flush=True)

    def name(self, index):
        return self.names.get(int(index), "#%d" % int(index))

    def event(self, sequence, signal, args):
        """Prints one event of the stream unless it was printed already."""
        sequence = int(sequence)
        if sequence <= self.last:
            return
        detail = self.describe(signal, args)
        self.line("%d %s %s" % (sequence, signal, detail))
        self.last = sequence
        self.save()

    def describe(self, signal, args):
        if signal in ("LinkAdded", "LinkRemoved"):
            index, name = int(args[0]), str(args[1])
            if signal == "LinkAdded":
                self.names[index] = name
            else:
                self.names.pop(index, None)
            return "%s index %d" % (name, index)
        if signal in ("AddressAdded", "AddressRemoved"):
            return "%s %s/%d" % (self.name(args[0]), args[1], int(args[2]))
        if signal == "RoutesModified":
            return self.name(args[0])
        if signal == "LeaseChanged":
            return "%s %s" % (str(args[1]), " ".join("%s=%s" % kv for kv in sorted(args[2].items())))
        if signal == "HooksCompleted":
            results = ", ".join("%s exited %d" % (r[0], int(r[1])) for r in args[2])
            return "%s %s %s" % (self.name(args[1]) if int(args[1]) else "manager", args[0], results)
        if signal == "LinkPropertiesChanged":
            changed = args[1]
            if "Name" in changed:
                self.names[int(args[0])] = str(changed["Name"])
            values = " ".join(
                "%s=%s" % (k, plain(changed[k])) for k in sorted(changed)
            )
            return "%s %s" % (self.name(args[0]), values)
        return " ".join(str(a) for a in args)

    # --- catching up ----------------------------------------------------------------
    def manager(self):
        return dbus.Interface(self.bus.get_object(BUS_NAME, MANAGER_PATH), MANAGER_IFACE)

    def catch_up(self):
        """Asks the history for everything after the last event printed."""
        try:
            self.owner = self.bus.get_name_owner(BUS_NAME)
            stream, complete, events = self.manager().EventsSince(dbus.UInt64(self.last))
        except dbus.DBusException as err:
            self.line("RESYNC daemon unreachable (%s)" % err.get_dbus_name())
            self.owner = None
            return
        stream = str(stream)
        if stream != self.stream:
            earlier, asked = self.stream, self.last
            self.stream, self.last = stream, 0
            self.save()
            if asked != 0:
                # The reply was for the old run's number: the new run's history from its
                # first event instead.
                try:
                    stream, complete, events = self.manager().EventsSince(dbus.UInt64(0))
                except dbus.DBusException as err:
                    self.line("RESYNC daemon unreachable (%s)" % err.get_dbus_name())
                    return
                if str(stream) != self.stream:
                    # Restarted once more in between: the next owner change starts over.
                    return
            if earlier is not None:
                # What changed while no daemon ran is in no history: the links as they are.
                self.resync("new stream %s (the daemon restarted)" % stream)
            elif not complete:
                self.resync("first start: the history no longer reaches back to event 1")
        elif not complete:
            self.resync("history no longer reaches back to event %d" % self.last)
        self.learn_names()
        for sequence, _time_us, signal, args in events:
            self.event(sequence, str(signal), args)

    def resync(self, reason):
        """The events are lost: says so and prints the links as they are now."""
        self.line("RESYNC " + reason)
        try:
            for index, name, path in self.manager().ListLinks():
                link = self.bus.get_object(BUS_NAME, path)
                state = link.Get(LINK_IFACE, "OperationalState", dbus_interface=dbus.PROPERTIES_IFACE)
                self.names[int(index)] = str(name)
                self.line("STATE %d %s %s" % (int(index), name, state))
        except dbus.DBusException as err:
            # A link that went away meanwhile: its LinkRemoved follows in the stream.
            self.line("STATE incomplete (%s)" % err.get_dbus_name())

    def learn_names(self):
        try:
            for index, name, _path in self.manager().ListLinks():
                self.names.setdefault(int(index), str(name))
        except dbus.DBusException:
            pass

    # --- live -----------------------------------------------------------------------
    def on_signal(self, *args, member=None, sender=None):
        if sender != self.owner:
            # A new daemon: its numbers are another stream's.
            self.catch_up()
            if sender != self.owner:
                return
        *args, sequence = args
        self.event(sequence, member, args)

    def on_owner(self, name, old, new):
        if name == BUS_NAME and new:
            self.catch_up()


def plain(value):
    """A D-Bus value as text: lists space-separated, (address, length) pairs as A/L."""
    if isinstance(value, (list, dbus.Array)):
        parts = []
        for item in value:
            if isinstance(item, (tuple, dbus.Struct)) and len(item) == 2:
                parts.append("%s/%d" % (item[0], int(item[1])))
            else:
                parts.append(str(item))
        return ",".join(parts) or "(none)"
    if isinstance(value, (dict, dbus.Dictionary)):
        return ",".join("%s:%s" % kv for kv in sorted(value.items())) or "(none)"
    text = str(value)
    return text if text else "(none)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state",
        default=os.path.join(os.environ.get("XDG_STATE_HOME", os.path.expanduser("~/.local/state")),
                             "follow-links.json"),
        help="where the stream's identity and the last event's number are kept",
    )
    options = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(options.state)), exist_ok=True)

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    # The system bus, or the one DBUS_SYSTEM_BUS_ADDRESS names.
    bus = dbus.SystemBus()
    follower = Follower(bus, options.state)
    # Subscribed before the history is read, so nothing falls between the two.
    bus.add_signal_receiver(
        follower.on_signal,
        bus_name=BUS_NAME,
        dbus_interface=MANAGER_IFACE,
        path=MANAGER_PATH,
        member_keyword="member",
        sender_keyword="sender",
    )
    bus.add_signal_receiver(
        follower.on_owner,
        signal_name="NameOwnerChanged",
        dbus_interface="org.freedesktop.DBus",
        arg0=BUS_NAME,
    )
    follower.catch_up()
    sys.stderr.write("following %s; stream %s, after event %d\n" % (BUS_NAME, follower.stream, follower.last))
    sys.stderr.flush()

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, loop.quit)
    loop.run()


if __name__ == "__main__":
    main()

# network-broker: build, tests (unit + lab), checks.
#
#   sudo make test     the test command (README): unit tests, then the lab integration tests
#                      inside a lab of network namespaces that `tests/lab/netlab.sh` builds and
#                      tears down again (also on failure); exits non-zero if anything failed
#   make check         cargo fmt --check + clippy with warnings as errors
#   sudo make deps     the Debian packages the build and the tests need (tests/lab/deps.sh)
#   sudo make lab-up / lab-down / lab-selftest   the lab by hand (LAB_DIR=/tmp/network-broker-lab)
#   sudo make bench    release build, then bench/dispatch.sh: network-broker against
#                      networkd-dispatcher in a lab of its own (LAB_DIR=/tmp/nb-bench), prints a
#                      table (docs/benchmarks.md); BENCH_ARGS="--runs 5" passes options. Not part
#                      of `make test` or CI: it measures, it does not pass or fail on numbers.
#
# Lab tests are the files tests/lab_*.rs: they need root and the lab, they SKIP without it (and
# fail instead under CI=true), and they run one at a time (one daemon owns the bus name).
# Every other tests/*.rs file runs with the unit tests.

SHELL := /bin/bash
CARGO ?= cargo
LAB := tests/lab/netlab.sh

LAB_TESTS := $(sort $(patsubst tests/%.rs,%,$(wildcard tests/lab_*.rs)))
OTHER_TESTS := $(sort $(filter-out lab_%,$(patsubst tests/%.rs,%,$(wildcard tests/*.rs))))
LAB_TEST_ARGS := $(addprefix --test ,$(LAB_TESTS))
OTHER_TEST_ARGS := $(addprefix --test ,$(OTHER_TESTS))

.PHONY: all build build-debug test unit-test lab-test lab-up lab-down lab-selftest check deps demo bench install

all: build

build:
	$(CARGO) build --release

build-debug:
	$(CARGO) build

# Runs every phase even when an earlier one failed, and fails if any did.
test: deps
	@rc=0; \
	$(MAKE) --no-print-directory unit-test || rc=1; \
	$(MAKE) --no-print-directory lab-test || rc=1; \
	if [ $$rc = 0 ]; then echo "make test: all phases passed"; else echo "make test: FAILED (see above)"; fi; \
	exit $$rc

# unit tests (lib, bins, docs) and the integration tests that need no lab
unit-test:
	$(CARGO) test --lib --bins $(OTHER_TEST_ARGS)
	$(CARGO) test --doc

# Build first (no lab needed for that), then: lab up, lab tests one at a time, lab down
# whatever happened (EXIT trap, also on ^C); the status is cargo's (or up's).
lab-test:
	$(CARGO) test --no-run $(LAB_TEST_ARGS)
	@trap '$(LAB) down' EXIT; \
	$(LAB) up && $(CARGO) test $(LAB_TEST_ARGS) -- --test-threads=1

lab-up:
	$(LAB) up

lab-down:
	$(LAB) down

lab-selftest:
	@trap '$(LAB) down' EXIT; $(LAB) up && $(LAB) selftest

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

deps:
	tests/lab/deps.sh

demo: deps build-debug
	tests/lab/demo.sh

# The benchmark runs the release build it finds under $CARGO_TARGET_DIR (or target/).
bench: deps build
	bench/dispatch.sh $(BENCH_ARGS)

# Installs where Debian expects things. PREFIX=/usr, DESTDIR for staging (packaging).
PREFIX ?= /usr
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
install: build
	install -Dm755 $(TARGET_DIR)/release/network-broker $(DESTDIR)$(PREFIX)/bin/network-broker
	install -Dm755 $(TARGET_DIR)/release/network-brokerctl $(DESTDIR)$(PREFIX)/bin/network-brokerctl
	install -Dm644 systemd/network-broker.service $(DESTDIR)$(UNITDIR)/network-broker.service
	install -Dm644 dbus/org.freedesktop.NetworkBroker1.conf \
		$(DESTDIR)$(PREFIX)/share/dbus-1/system.d/org.freedesktop.NetworkBroker1.conf
	install -Dm644 dbus/org.freedesktop.NetworkBroker1.service \
		$(DESTDIR)$(PREFIX)/share/dbus-1/system-services/org.freedesktop.NetworkBroker1.service
	install -Dm644 dbus/org.freedesktop.NetworkBroker1.xml \
		$(DESTDIR)$(PREFIX)/share/dbus-1/interfaces/org.freedesktop.NetworkBroker1.xml
	install -Dm644 polkit/org.freedesktop.NetworkBroker1.policy \
		$(DESTDIR)$(PREFIX)/share/polkit-1/actions/org.freedesktop.NetworkBroker1.policy
	install -Dm644 polkit/rules.d/50-network-broker.rules \
		$(DESTDIR)$(PREFIX)/share/polkit-1/rules.d/50-network-broker.rules
	install -Dm644 sysusers.d/network-broker.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/network-broker.conf
	# `journalctl -x` explains our MESSAGE_IDs once `journalctl --update-catalog` has run.
	install -Dm644 systemd/network-broker.catalog \
		$(DESTDIR)$(PREFIX)/lib/systemd/catalog/network-broker.catalog
	# `ip route` / `ip rule` then print our protocol number 78 as `network-broker`.
	install -Dm644 iproute2/rt_protos.d/network-broker.conf \
		$(DESTDIR)$(SYSCONFDIR)/iproute2/rt_protos.d/network-broker.conf
	$(TARGET_DIR)/release/network-brokerctl completions bash > network-brokerctl.bash
	$(TARGET_DIR)/release/network-brokerctl completions zsh > _network-brokerctl
	$(TARGET_DIR)/release/network-brokerctl completions fish > network-brokerctl.fish
	install -Dm644 network-brokerctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/network-brokerctl
	install -Dm644 _network-brokerctl $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_network-brokerctl
	install -Dm644 network-brokerctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/network-brokerctl.fish
	rm -f network-brokerctl.bash _network-brokerctl network-brokerctl.fish
	install -d -m755 $(DESTDIR)$(SYSCONFDIR)/network-broker
	for d in carrier configured degraded no-carrier routable manager routes-modified; do \
		install -d -m755 $(DESTDIR)$(SYSCONFDIR)/network-broker/$$d.d; done
	# An administrator's configuration is never overwritten.
	[ -e $(DESTDIR)$(SYSCONFDIR)/network-broker/network-broker.yaml ] || \
		install -Dm644 examples/network-broker.yaml $(DESTDIR)$(SYSCONFDIR)/network-broker/network-broker.yaml
	install -d -m755 $(DESTDIR)$(PREFIX)/share/doc/network-broker/examples
	install -m644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/network-broker/
	cp -r examples/hooks $(DESTDIR)$(PREFIX)/share/doc/network-broker/examples/

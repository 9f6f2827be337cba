# network-broker: build, tests (unit + lab), checks.
#
#   sudo make test     the test command (README): unit tests, then the lab integration tests
#                      inside a lab of network namespaces that `tests/lab/netlab.sh` builds and
#                      tears down again (also on failure), then the system tier (below); exits
#                      non-zero if anything failed
#   make check         cargo fmt --check + clippy with warnings as errors
#   sudo make system-test   the system tier: `make deb`, then tests/system_*.rs, each in a
#                      throwaway machine that boots systemd (tests/system/ct.sh); part of `make test`
#   make deb           the Debian package, target/debian/network-broker_<version>_<arch>.deb
#                      (docs/packaging.md)
#   make build / sudo make install   release build + generated man pages and completions, then
#                      install for other distributions (no cargo needed once built)
#   make build-static-daemon   opt-in: the daemon alone against a static glibc (docs/benchmarks.md,
#                      "Memory, 2026-12-04" says what that costs); not what the package ships
#   sudo make deps     the Debian packages the build and the tests need (tests/lab/deps.sh)
#   sudo make lab-up / lab-down / lab-selftest   the lab by hand (LAB_DIR=/tmp/network-broker-lab)
#   sudo make bench    release build, then bench/dispatch.sh: network-broker against
#                      networkd-dispatcher in a lab of its own (LAB_DIR=/tmp/nb-bench), prints a
#                      table (docs/benchmarks.md); BENCH_ARGS="--runs 5" passes options. Not part
#                      of `make test` or CI: it measures, it does not pass or fail on numbers.
#
# Lab tests are the files tests/lab_*.rs: they need root and the lab, they SKIP without it (and
# fail instead under CI=true), and they run one at a time (one daemon owns the bus name).
# System tests are tests/system_*.rs: root, a booted machine each, the package (NB_DEB).
# Every other tests/*.rs file runs with the unit tests.

SHELL := /bin/bash
CARGO ?= cargo
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
# cargo's options for tools/mangen (its own workspace), its build under the project's target dir
MANGEN_ARGS = --locked --manifest-path tools/mangen/Cargo.toml --target-dir $(TARGET_DIR)/mangen
LAB := tests/lab/netlab.sh

LAB_TESTS := $(sort $(patsubst tests/%.rs,%,$(wildcard tests/lab_*.rs)))
SYSTEM_TESTS := $(sort $(patsubst tests/%.rs,%,$(wildcard tests/system_*.rs)))
OTHER_TESTS := $(sort $(filter-out lab_% system_%,$(patsubst tests/%.rs,%,$(wildcard tests/*.rs))))
LAB_TEST_ARGS := $(addprefix --test ,$(LAB_TESTS))
SYSTEM_TEST_ARGS := $(addprefix --test ,$(SYSTEM_TESTS))
OTHER_TEST_ARGS := $(addprefix --test ,$(OTHER_TESTS))

.PHONY: deb system-test all build generated build-debug build-static-daemon test unit-test lab-test lab-up lab-down lab-selftest check deps demo bench install

all: build

# The release binaries, then what is generated from them and from docs/ (completions, man
# pages) under $(GEN): the source tree stays as it is.
build:
	$(CARGO) build --release
	$(MAKE) --no-print-directory generated

build-debug:
	$(CARGO) build

# Opt-in, not the default: the daemon (only it) linked against a static glibc, 0.9 MiB less RSS
# at idle and with 4,096 links but 0.4 MiB more PSS (libc's pages no longer shared with other
# processes), for a binary that must be rebuilt for every glibc security update and that
# still loads the system's NSS modules for zbus's user and group lookups
# (docs/benchmarks.md, "Memory, 2026-12-04"). Replaces target/release/network-broker; the
# executor (NSS users) and brokerctl stay dynamic. `make build` makes it dynamic again.
build-static-daemon:
	$(CARGO) rustc --release --bin network-broker -- -C target-feature=+crt-static

# Runs every phase even when an earlier one failed, and fails if any did.
test: deps
	@rc=0; \
	$(MAKE) --no-print-directory unit-test || rc=1; \
	$(MAKE) --no-print-directory lab-test || rc=1; \
	$(MAKE) --no-print-directory system-test || rc=1; \
	if [ $$rc = 0 ]; then echo "make test: all phases passed"; else echo "make test: FAILED (see above)"; fi; \
	exit $$rc

# unit tests (lib, bins, docs) and the integration tests that need no lab
unit-test:
	$(CARGO) test --lib --bins $(OTHER_TEST_ARGS)
	$(CARGO) test --doc
	$(CARGO) test $(MANGEN_ARGS) --release

# Build first (no lab needed for that), then: lab up, lab tests one at a time, lab down
# whatever happened (EXIT trap, also on ^C); the status is cargo's (or up's).
lab-test:
	$(CARGO) test --no-run $(LAB_TEST_ARGS)
	@trap '$(LAB) down' EXIT; \
	$(LAB) up && $(CARGO) test --no-fail-fast $(LAB_TEST_ARGS) -- --test-threads=1

# The system tier (docs/testing.md): the package, built once, installed in machines that boot
# systemd as PID 1 (tests/system/ct.sh), one test at a time (each boots its own machine).
system-test: deb
	$(CARGO) test --no-run $(SYSTEM_TEST_ARGS)
	NB_DEB=$(abspath $(DEB)) $(CARGO) test --no-fail-fast $(SYSTEM_TEST_ARGS) -- --test-threads=1

lab-up:
	$(LAB) up

lab-down:
	$(LAB) down

lab-selftest:
	@trap '$(LAB) down' EXIT; $(LAB) up && $(LAB) selftest

# tools/mangen is a workspace of its own: cargo at the top does not see it.
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) fmt --check --manifest-path tools/mangen/Cargo.toml
	$(CARGO) clippy $(MANGEN_ARGS) --release --all-targets -- -D warnings

deps:
	tests/lab/deps.sh

# The demo runs the debug build it finds under $CARGO_TARGET_DIR (or target/).
demo: deps build-debug
	CARGO_TARGET_DIR=$(TARGET_DIR) tests/lab/demo.sh

# The benchmark runs the release build it finds under $CARGO_TARGET_DIR (or target/).
bench: deps build
	bench/dispatch.sh $(BENCH_ARGS)

GEN := $(TARGET_DIR)/generated
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
BIN := $(TARGET_DIR)/release/network-broker $(TARGET_DIR)/release/network-brokerctl \
	$(TARGET_DIR)/release/network-broker-executor
MANGEN := $(TARGET_DIR)/mangen/release/mangen
MANPAGES := $(GEN)/man/network-broker.8 $(GEN)/man/network-broker-executor.8 \
	$(GEN)/man/network-brokerctl.1 $(GEN)/man/network-broker.yaml.5
COMPLETIONS := $(GEN)/completions/network-brokerctl.bash $(GEN)/completions/_network-brokerctl \
	$(GEN)/completions/network-brokerctl.fish

generated: $(MANPAGES) $(COMPLETIONS)

# Only when a binary is missing: `make install` after `make build` needs no cargo (root's PATH
# often has none).
$(BIN) &:
	$(CARGO) build --release

# tools/mangen: markdown to roff, its own small workspace (no pandoc anywhere).
$(MANGEN): tools/mangen/src/main.rs tools/mangen/Cargo.toml tools/mangen/Cargo.lock
	$(CARGO) build $(MANGEN_ARGS) --release

$(GEN)/man/%.8: docs/%.8.md $(MANGEN)
	@mkdir -p $(@D)
	$(MANGEN) --version $(VERSION) $< $@
$(GEN)/man/%.1: docs/%.1.md $(MANGEN)
	@mkdir -p $(@D)
	$(MANGEN) --version $(VERSION) $< $@
# network-broker.yaml(5) is docs/configuration.md itself.
$(GEN)/man/network-broker.yaml.5: docs/configuration.md $(MANGEN)
	@mkdir -p $(@D)
	$(MANGEN) --version $(VERSION) --title 'NETWORK-BROKER.YAML(5) network-broker | File Formats' \
		--name 'network-broker.yaml - the configuration file of network-broker(8)' $< $@

$(GEN)/completions/network-brokerctl.bash: $(TARGET_DIR)/release/network-brokerctl
	@mkdir -p $(@D)
	$< completions bash > $@
$(GEN)/completions/_network-brokerctl: $(TARGET_DIR)/release/network-brokerctl
	@mkdir -p $(@D)
	$< completions zsh > $@
$(GEN)/completions/network-brokerctl.fish: $(TARGET_DIR)/release/network-brokerctl
	@mkdir -p $(@D)
	$< completions fish > $@

# Installs where Debian expects things. PREFIX=/usr, DESTDIR for staging (packaging).
# It installs files only: it does not create the user (systemd-sysusers network-broker.conf),
# make dbus-daemon re-read its policy (systemctl reload dbus), daemon-reload, enable or start;
# the Debian package does all of that (README, docs/packaging.md).
PREFIX ?= /usr
SYSCONFDIR ?= /etc
# Debian 12 says /lib/systemd/system; other distributions say /usr/lib/systemd/system.
UNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),$(PREFIX)/lib/systemd/system)
CATALOGDIR ?= $(PREFIX)/lib/systemd/catalog
install: $(BIN) $(MANPAGES) $(COMPLETIONS)
	install -Dm755 $(TARGET_DIR)/release/network-broker $(DESTDIR)$(PREFIX)/bin/network-broker
	install -Dm755 $(TARGET_DIR)/release/network-brokerctl $(DESTDIR)$(PREFIX)/bin/network-brokerctl
	install -Dm755 $(TARGET_DIR)/release/network-broker-executor \
		$(DESTDIR)$(PREFIX)/libexec/network-broker-executor
	install -Dm644 systemd/network-broker.service $(DESTDIR)$(UNITDIR)/network-broker.service
	install -Dm644 systemd/network-broker-executor.socket $(DESTDIR)$(UNITDIR)/network-broker-executor.socket
	install -Dm644 systemd/network-broker-executor.service $(DESTDIR)$(UNITDIR)/network-broker-executor.service
	install -Dm644 systemd/network-broker.catalog $(DESTDIR)$(CATALOGDIR)/network-broker.catalog
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
	install -Dm644 $(GEN)/completions/network-brokerctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/network-brokerctl
	install -Dm644 $(GEN)/completions/_network-brokerctl $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_network-brokerctl
	install -Dm644 $(GEN)/completions/network-brokerctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/network-brokerctl.fish
	install -Dm644 $(GEN)/man/network-broker.8 $(DESTDIR)$(PREFIX)/share/man/man8/network-broker.8
	install -Dm644 $(GEN)/man/network-broker-executor.8 $(DESTDIR)$(PREFIX)/share/man/man8/network-broker-executor.8
	install -Dm644 $(GEN)/man/network-brokerctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/network-brokerctl.1
	install -Dm644 $(GEN)/man/network-broker.yaml.5 $(DESTDIR)$(PREFIX)/share/man/man5/network-broker.yaml.5
	install -d -m755 $(DESTDIR)$(SYSCONFDIR)/network-broker
	for d in carrier configured degraded no-carrier routable manager routes-modified; do \
		install -d -m755 $(DESTDIR)$(SYSCONFDIR)/network-broker/$$d.d \
			$(DESTDIR)$(PREFIX)/lib/network-broker/$$d.d; done
	# An administrator's configuration is never overwritten.
	[ -e $(DESTDIR)$(SYSCONFDIR)/network-broker/network-broker.yaml ] || \
		install -Dm644 examples/network-broker.yaml $(DESTDIR)$(SYSCONFDIR)/network-broker/network-broker.yaml
	install -d -m755 $(DESTDIR)$(PREFIX)/share/doc/network-broker/examples
	install -m644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/network-broker/
	cp -r examples/hooks $(DESTDIR)$(PREFIX)/share/doc/network-broker/examples/

# The Debian package (docs/packaging.md): dpkg-buildpackage in a copy of the source tree under
# $(DEBDIR)/build (it writes its results next to the tree it builds), with the project's
# target dir, so a release build already there is reused.
DEBDIR := $(TARGET_DIR)/debian
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB := $(DEBDIR)/network-broker_$(VERSION)_$(DEB_ARCH).deb
deb:
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
		{ echo "debian/changelog says $$v, Cargo.toml $(VERSION): add a changelog entry"; exit 1; }
	rm -rf $(DEBDIR)/build && mkdir -p $(DEBDIR)/build/network-broker-$(VERSION)
	tar --exclude=./target --exclude=./.git --exclude=./fuzz/target -cf - . | \
		tar -xf - -C $(DEBDIR)/build/network-broker-$(VERSION)
	cd $(DEBDIR)/build/network-broker-$(VERSION) && \
		CARGO_TARGET_DIR=$(abspath $(TARGET_DIR)) dpkg-buildpackage -b -uc -us
	cp $(DEBDIR)/build/network-broker_$(VERSION)_$(DEB_ARCH).deb $(DEB)
	@echo "make deb: $(DEB)"

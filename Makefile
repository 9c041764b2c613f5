# meshcap — every target installs what it needs on a fresh Debian machine (as root).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
SWIFT ?= swift
BIN := .build/debug/meshcap
# Kernel tests and conformance need the loaders and iproute2; the netlink backend needs the -dev
# packages; python3 runs the corpus' nftsort.py and the traffic probes.
# strace injects the kills of the crash-consistency test.
APT_PACKAGES := iptables nftables iproute2 util-linux pkg-config libnftnl-dev libmnl-dev libiptc-dev python3 strace
# The install tests check what `make install` ships: the units (systemd-analyze), the man page
# (groff, man), the completions (zsh, fish; bash is there) and contrib's alerts (promtool).
# The fleet tests build the package with debhelper, check it with lintian, run Ansible, and
# watch VMs with node_exporter and Prometheus.
PACKAGING_PACKAGES := systemd groff-base man-db zsh fish prometheus debhelper lintian fakeroot dpkg-dev ansible-core ansible ansible-lint \
	prometheus-node-exporter
TOOLS := nft iptables-nft-restore ip6tables-nft-restore ip unshare pkg-config python3 strace systemd-analyze groff man zsh fish promtool \
	dh lintian fakeroot ansible-playbook ansible-lint prometheus prometheus-node-exporter
HEADERS := /usr/include/libnftnl/common.h /usr/include/libmnl/libmnl.h /usr/include/libiptc/libiptc.h

.PHONY: deps build-deps build demo test test-fleet fuzz goldens release bench install deb clean

# Building (and `make demo`) needs only the libraries' headers and pkg-config; the tests need the rest.
BUILD_PACKAGES := pkg-config libnftnl-dev libmnl-dev libiptc-dev
build-deps:
	@for h in $(HEADERS); do [ -f $$h ] || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(BUILD_PACKAGES); break; }; done

deps:
	@missing=; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	for h in $(HEADERS); do [ -f $$h ] || missing="$$missing $$h"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing packages for:$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PACKAGES) \
			&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(PACKAGING_PACKAGES); \
	fi

# A target that imports another it does not declare fails the build (SwiftPM would otherwise
# build it by luck of build order): Package.swift's arrows are the architecture.
IMPORTS := --explicit-target-dependency-import-check error

build: build-deps
	$(SWIFT) build $(IMPORTS)

# Compiles the bundled VM mesh-expansion profile for the example VM's own files (its passwd and
# resolv.conf): iptables-restore input, then the nft script.
VM_HOST := --passwd-file Rules/vm-host/passwd --group-file Rules/vm-host/group --resolv-conf Rules/vm-host/resolv.conf
demo: build
	$(BIN) compile $(VM_HOST) --config Rules/vm-mesh-expansion.env
	$(BIN) compile $(VM_HOST) --config Rules/vm-mesh-expansion.env --backend nft

# The whole suite: unit, golden, CLI, and (as root, with ../shared/conformance) kernel tests.
# Without root or the corpus those are skipped with a message; under CI=true they run and fail.
# On a clean build the log holds every compiler warning; meshcap's own code must have none.
test: deps
	@mkdir -p .build
	$(SWIFT) build --build-tests $(IMPORTS) 2>&1 | tee .build/build.log
	@! grep -E '^/.*(Sources|Tests)/.*warning:' .build/build.log || { echo "meshcap: compiler warnings above"; exit 1; }
	$(SWIFT) test
	@# The CLI suite again as an ordinary user: every host command it runs goes to the fake host.
	@# As a developer runs it without root: CI unset, so the few tests that need root (special
	@# files, chown; they ran above) skip; its log is its own, this says how it went.
	@bin=$$($(SWIFT) build --show-bin-path); as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups env -u CI HOME=/tmp"; \
	if [ "$$(id -u)" != 0 ]; then :; \
	elif ! $$as_nobody test -x $$bin/meshcapPackageTests.xctest -a -r $(CURDIR)/Package.swift; then \
		echo "CLI suite as nobody: not run, nobody cannot reach $(CURDIR)"; \
	else \
		(cd /tmp && $$as_nobody $$bin/meshcapPackageTests.xctest --testing-library swift-testing --filter '^CLITests\.') > .build/cli-as-nobody.log 2>&1; \
		status=$$?; \
		summary=$$(grep -a 'Test run with' .build/cli-as-nobody.log | sed 's/\x1b\[[0-9;]*m//g; s/^.*Test run with //'); \
		echo "CLI suite as nobody (uid 65534, host commands on MESHCAP_FAKE_HOST): $$summary ($$(grep -ac 'Test .* skipped' .build/cli-as-nobody.log) of them skipped as nobody: they need root, and ran as root above; .build/cli-as-nobody.log)"; \
		if [ $$status -ne 0 ]; then grep -a '✘' .build/cli-as-nobody.log | head -40; exit 1; fi; \
	fi
	@# The package and the Ansible collection, installed on this machine: root only (under CI=true
	@# not running them fails), and never over a meshcap package installed here already.
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory test-fleet; \
	elif [ "$${CI:-}" = true ]; then echo "meshcap: the fleet tests need root (they install the package)"; exit 1; \
	else echo "meshcap: fleet tests skipped: they need root (they install and purge the package)"; fi

# The fleet's tools on this machine (root; CI's fresh machine): the package built twice (this
# version and a later one) and installed, upgraded, removed and purged (Tests/Fleet/deb.sh); the
# dashboard's queries and the alerts on a real Prometheus scraping node_exporters of namespaces
# (Tests/Fleet/prometheus.sh); the Ansible collection's playbooks against namespaces as hosts
# (Tests/Fleet/ansible.sh).
FLEET_VERSION = $(DEB_VERSION)+fleettest
COLLECTION := contrib/ansible/ansible_collections/meshcap/vm
test-fleet: deb build
	$(MAKE) --no-print-directory deb DEB_VERSION=$(FLEET_VERSION)
	Tests/Fleet/deb.sh $(DEB_DIR)/meshcap_$(DEB_VERSION)_*.deb $(DEB_DIR)/meshcap_$(FLEET_VERSION)_*.deb
	Tests/Fleet/prometheus.sh $(BIN)
	cd $(COLLECTION) && ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/contrib/ansible/ansible_collections ansible-lint --offline --nocolor 2>&1 | tee $(CURDIR)/.build/ansible-lint.log
	Tests/Fleet/ansible.sh $(DEB_DIR)/meshcap_$(DEB_VERSION)_*.deb

# Each saved-dump reader under libFuzzer and AddressSanitizer, FUZZ_SECONDS each, seeded with the
# real dumps in Tests/VerifyTests/Dumps (new inputs kept in .build/fuzz/corpus). A crash, an input
# slower than 2 s or a run over 2 GB fails, the input saved in .build/fuzz/crashes; replay one
# with the plain debug build: .build/debug/FuzzNftJSON FILE.
FUZZ_TARGETS := FuzzIptablesSave FuzzIptablesListing FuzzIptablesRules FuzzNftListing FuzzNftJSON
FUZZ_SECONDS ?= 45
FUZZ_BUILD := $(SWIFT) build -c debug --scratch-path .build/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
fuzz: deps
	for t in $(FUZZ_TARGETS); do $(FUZZ_BUILD) --product $$t 2>&1 | grep -v 'Cannot export local symbol' || exit 1; done
	@mkdir -p .build/fuzz/crashes
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p .build/fuzz/corpus/$$t; \
		SWIFT_BACKTRACE=enable=no .build/fuzz/debug/$$t .build/fuzz/corpus/$$t Tests/VerifyTests/Dumps \
			-max_total_time=$(FUZZ_SECONDS) -timeout=2 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
			-artifact_prefix=.build/fuzz/crashes/$$t- > .build/fuzz/$$t.log 2>&1; \
		status=$$?; \
		runs=$$(grep -m1 '^stat::number_of_executed_units' .build/fuzz/$$t.log | tr -dc 0-9); \
		if [ $$status -ne 0 ] || [ -z "$$runs" ]; then tail -40 .build/fuzz/$$t.log; echo "fuzz: $$t failed (exit $$status): .build/fuzz/$$t.log, .build/fuzz/crashes"; exit 1; fi; \
		echo "fuzz: $$t: $$runs inputs in $(FUZZ_SECONDS) s, no crash"; \
	done

# Regenerates Goldens/<profile>/ with the CLI itself (rules.v4/.v6/.nft, batch.netlink); review the diff.
# No host files: the goldens must not depend on this machine's accounts or resolver.
NO_HOST := --passwd-file /dev/null --group-file /dev/null --resolv-conf /dev/null
goldens: build
	rm -rf Goldens/*/
	for f in Rules/*.env; do \
		g=Goldens/$$(basename $$f .env); \
		$(BIN) compile $(NO_HOST) --config $$f --output-dir $$g && $(BIN) compile $(NO_HOST) --config $$f --backend netlink > $$g/batch.netlink || exit 1; \
	done

# The release binary: the Swift runtime and libstdc++ linked in (one file to copy to a VM).
# Loading the shared libstdc++ cost 0.8 ms of CPU on every run (a static Swift hello world: 1.90 ms
# with it, 1.06 ms without). The toolchain's own link line asks for -lstdc++, which finds the shared library
# first; swiftc's -L is searched before the toolchain's directories, and STATIC_CXX holds only
# the archive (libstdc++'s runtime exception allows linking it in).
STATIC_CXX := .build/static-cxx
release:
	@mkdir -p $(STATIC_CXX)
	@archive=$$(clang -print-file-name=libstdc++.a); [ -f "$$archive" ] || { echo "meshcap: no libstdc++.a (apt-get install libstdc++-12-dev)"; exit 1; }; \
		ln -sf "$$archive" $(STATIC_CXX)/libstdc++.a
	$(SWIFT) build -c release --static-swift-stdlib -Xswiftc -L$(STATIC_CXX) --product meshcap
	@! ldd .build/release/meshcap | grep -q libstdc++ || { echo "meshcap: libstdc++ is still a shared library of the binary"; exit 1; }

# Apply time against nft -f and iptables-nft-restore, same rules, same run (root; own namespace).
# A release binary with the runtimes linked in: start-up is part of what a user waits for.
bench: deps release
	@[ -x /usr/bin/time ] || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y time; }
	@rm -f .build/bench-record.json
	MESHCAP_BENCH_RECORD=$(CURDIR)/.build/bench-record.json python3 Benchmarks/apply_bench.py --meshcap .build/release/meshcap
	MESHCAP_BENCH_RECORD=$(CURDIR)/.build/bench-record.json python3 Benchmarks/verify_bench.py --meshcap .build/release/meshcap
	python3 Benchmarks/dataplane_bench.py --meshcap .build/release/meshcap --rounds 7
	python3 Benchmarks/summary.py .build/bench-record.json

# The release binary (Swift runtime linked in: one file to copy to a VM), its man page and shell
# completions generated from the CLI itself, the systemd units and the /etc/meshcap README.
# PREFIX=/usr puts the units in /lib/systemd/system, any other prefix in PREFIX/lib/systemd/system.
PREFIX ?= /usr/local
DESTDIR ?=
# Only what building needs: a packager's machine gets no test tools (no prometheus server).
install: build-deps
	$(MAKE) release
	sh Packaging/install.sh --binary .build/release/meshcap --prefix $(PREFIX) --destdir "$(DESTDIR)"

# The Debian package, built with debhelper from a copy of Packaging/debian beside the release
# binary (Swift is no Debian package, so the binary is built first): the version is the one
# `meshcap --version` prints (DEB_VERSION overrides it, for an upgrade test), the changelog's date
# the commit's. lintian must report no error and no warning (as root it says it would rather
# not be; that is no tag).
DEB_VERSION ?= $(shell sed -n 's/.*static let release = "\(.*\)"/\1/p' Sources/meshcap/Meshcap.swift)
DEB_DIR := .build/deb
DEB_PACKAGES := debhelper lintian fakeroot dpkg-dev
deb: build-deps release
	@command -v dh >/dev/null && command -v lintian >/dev/null && command -v fakeroot >/dev/null || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES); }
	rm -rf $(DEB_DIR)/src && mkdir -p $(DEB_DIR)/src
	@# What git tracks only: no test output, built collections or lint caches, no .gitignore.
	git ls-files -z Packaging contrib LICENSE | grep -zv '/\.gitignore$$' | xargs -0 cp --parents -t $(DEB_DIR)/src/
	mv $(DEB_DIR)/src/Packaging/debian $(DEB_DIR)/src/debian
	cp .build/release/meshcap $(DEB_DIR)/src/meshcap
	@commit=$$(git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown); \
	when=$$(date -u -R -d @$$(git log -1 --format=%ct 2>/dev/null || date +%s)); \
	printf 'meshcap (%s) unstable; urgency=medium\n\n  * meshcap %s, built from commit %s.\n\n -- meshcap developers <meshcap-dev@lists.meshcap.dev>  %s\n' \
		"$(DEB_VERSION)" "$(DEB_VERSION)" "$$commit" "$$when" > $(DEB_DIR)/src/debian/changelog
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc --no-sign >../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	lintian --fail-on error,warning $(DEB_DIR)/meshcap_$(DEB_VERSION)_*.deb
	@ls $(DEB_DIR)/meshcap_$(DEB_VERSION)_*.deb

clean:
	rm -rf .build

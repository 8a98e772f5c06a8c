# apus — build, test, bench. `make` builds the static release binary.
SWIFT        ?= swift
PREFIX       ?= /usr/local
# Fully static: no dynamic loader work at start, runs on any x86_64 Linux.
# Concrete type metadata through accessor functions, not mangled names: demangling a
# generic type at run time checks its requirements by scanning the binary's ~4,000
# protocol conformance records (about 90,000 instructions per first lookup, 80 lookups in
# a `run`). Measured with callgrind: config.json decode 3.7M -> 1.3M instructions, state
# load 2.7M -> 1.6M.
# One section per function (-function-sections) and public symbols internal to this one
# link (-internalize-at-link): --gc-sections then drops every function nothing calls, and
# gold folds identical ones whose address is never taken (--icf=safe). The section order
# file lays out the functions a start runs first, in the order it runs them, so a start
# faults in a few 64 KiB windows of text instead of all over it (scripts/text-order.sh
# writes it; a stale one only costs faults). Measured in BENCHMARKS.md.
# --wrap sends two start-up calls of the Swift runtime and one of static glibc to
# Sources/CApus/runtime_start.c (argv without reading /proc/self/maps, no search for a
# swift-backtrace helper, no readlink of /proc/self/exe): 15 of a start's syscalls.
ORDER_FILE    = $(CURDIR)/link/text-order.txt
RELEASE_FLAGS = -c release --static-swift-stdlib -Xswiftc -static-executable \
                -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors \
                -Xswiftc -Xfrontend -Xswiftc -function-sections -Xswiftc -Xfrontend -Xswiftc -internalize-at-link \
                -Xlinker --icf=safe -Xlinker --wrap=_swift_stdlib_getUnsafeArgvArgc \
                -Xlinker --wrap=swift_copyAuxiliaryExecutablePath -Xlinker --wrap=_dl_get_origin $(if $(wildcard $(ORDER_FILE)),-Xlinker --section-ordering-file=$(ORDER_FILE))
STATIC_FLAGS  = $(RELEASE_FLAGS) -Xlinker -s
BIN           = .build/release/apus
# The Swift test bundle `swift test` builds; the cgroup v2 VM runs its CgroupTests.
CG2_TESTS     = $(CURDIR)/.build/debug/apusPackageTests.xctest
DEBS          = libseccomp-dev libcap-dev busybox-static runc crun jq strace hyperfine gcc python3 util-linux iproute2 qemu-system-x86 podman containerd uidmap slirp4netns docker.io buildah mmdebstrap systemd dbus \
              libprotobuf-c1 libnl-3-200 libnet1 libgnutls30 libbsd0 libnftables1 libuuid1

.PHONY: all build release-flags deps test test-cgroup2 test-systemd soak unit integration lint fmt bench bench-systemd install clean demo fuzz

all: build

# The unwind tables go too (0.9 MiB; scripts/drop-unwind.py says why, and keeps RELRO).
build:
	@# SwiftPM does not know the order file: a newer one needs a new link.
	@if [ -f $(BIN) ] && [ $(ORDER_FILE) -nt $(BIN) ]; then rm -f $(BIN); fi
	$(SWIFT) build $(STATIC_FLAGS) --product apus
	python3 scripts/drop-unwind.py $(BIN)

# The release flags without -s, for scripts/text-order.sh.
release-flags:
	@echo $(RELEASE_FLAGS)

deps:
	@if ! dpkg -s $(DEBS) >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEBS); \
	fi

# Swift Testing's event stream of the last `swift test` run: what test-summary.py reads
# to list every skipped test with its reason.
EVENTS        = .build/test-events.jsonl
# One test or suite: `make integration TEST=CgroupTests` (a regular expression over
# Target.Suite/testName, as `swift test --filter` takes it).
TEST         ?=

# The README's test command: lint; unit and integration tests (root) against the release
# binary, podman and containerd included; the fuzzer; the cgroup checks and the Swift
# CgroupTests on a pure cgroup v2 kernel (qemu); the systemd cgroup driver in a VM booted
# with systemd as PID 1 (qemu), on cgroup v2 and hybrid. Every step runs even after a failure, then
# host-state.sh fails the run if the host is not as the run found it (mounts, cgroups,
# links, users, state dirs, processes), and test-summary.py lists every skip with its reason
# and prints the totals. The host check compares the whole host, so it expects no other
# containers to come or go meanwhile: on a busy workstation, HOST_CHECK=0 turns it off.
test: deps build lint
	@mkdir -p .build; scripts/host-state.sh snapshot .build/host-before.txt
	@status=0; \
	TEST_EVENTS=$(EVENTS) scripts/swift-test.sh $(CURDIR)/$(BIN) || status=1; \
	$(MAKE) fuzz || status=1; \
	APUS_CG2_TESTS=$(CG2_TESTS) Tests/cgroup2/run.sh $(CURDIR)/$(BIN) || status=1; \
	Tests/systemd/run.sh $(CURDIR)/$(BIN) || status=1; \
	APUS_SYSTEMD_HIERARCHY=hybrid Tests/systemd/run.sh $(CURDIR)/$(BIN) || status=1; \
	if [ "$${HOST_CHECK:-1}" = 1 ]; then scripts/host-state.sh compare .build/host-before.txt || status=1; fi; \
	python3 scripts/test-summary.py --events $(EVENTS) --vm .build/cgroup2/console.log \
	  --vm .build/systemd/console.log --vm .build/systemd-hybrid/console.log || status=1; \
	exit $$status

# The cgroup checks and CgroupTests again on a pure cgroup v2 kernel (cgroup_no_v1=all) under qemu:
# this host is hybrid and cannot switch layouts.
test-cgroup2: deps build
	$(SWIFT) build --build-tests
	APUS_CG2_TESTS=$(CG2_TESTS) Tests/cgroup2/run.sh $(CURDIR)/$(BIN)

# The systemd cgroup driver (--systemd-cgroup) against a real systemd: the same qemu VM
# booted with Debian's systemd as PID 1 (Tests/systemd: run.sh, checks.sh), on pure cgroup
# v2 and on a hybrid hierarchy.
test-systemd: deps build
	@status=0; \
	Tests/systemd/run.sh $(CURDIR)/$(BIN) || status=1; \
	APUS_SYSTEMD_HIERARCHY=hybrid Tests/systemd/run.sh $(CURDIR)/$(BIN) || status=1; \
	exit $$status

# libFuzzer, two targets sharing FUZZ_SECONDS (two thirds, one third): config.json decoding
# + validation (Fuzz/ConfigFuzz.swift, seeded with Fuzz/corpus, the spec-fixtures configs)
# and the D-Bus reply parser of the systemd driver (Fuzz/DBusReplyFuzz.swift, seeded with
# Fuzz/dbus-corpus, the reference messages of Tests/ApusDBusTests). A crash leaves the input
# in .build/fuzz/crash-* (config) or .build/fuzz/dbus-crash-*: replay it with the target
# binary and the FILE.
FUZZ_SECONDS ?= 60
FUZZ_CONFIG_SECONDS = $$(( $(FUZZ_SECONDS) * 2 / 3 ))
FUZZ_DBUS_SECONDS = $$(( $(FUZZ_SECONDS) - $(FUZZ_SECONDS) * 2 / 3 ))
fuzz:
	mkdir -p .build/fuzz/corpus .build/fuzz/dbus-corpus
	swiftc -sanitize=fuzzer,address -parse-as-library -module-name OCI -O \
	  Sources/OCI/*.swift Fuzz/ConfigFuzz.swift -o .build/fuzz/config-fuzz
	swiftc -sanitize=fuzzer,address -parse-as-library -module-name ApusDBus -O \
	  Sources/ApusDBus/*.swift Fuzz/DBusReplyFuzz.swift -o .build/fuzz/dbus-fuzz
	@echo "fuzzing config.json decoding for $(FUZZ_CONFIG_SECONDS) s (log: .build/fuzz/fuzz.log)"
	@if .build/fuzz/config-fuzz -max_total_time=$(FUZZ_CONFIG_SECONDS) -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
	  -dict=Fuzz/json.dict -artifact_prefix=.build/fuzz/ -print_final_stats=1 .build/fuzz/corpus Fuzz/corpus \
	  > .build/fuzz/fuzz.log 2>&1; then grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' .build/fuzz/fuzz.log; \
	else tail -60 .build/fuzz/fuzz.log; ls .build/fuzz/crash-* .build/fuzz/timeout-* .build/fuzz/oom-* 2>/dev/null; exit 1; fi
	@echo "fuzzing the D-Bus reply parser for $(FUZZ_DBUS_SECONDS) s (log: .build/fuzz/dbus-fuzz.log)"
	@if .build/fuzz/dbus-fuzz -max_total_time=$(FUZZ_DBUS_SECONDS) -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
	  -artifact_prefix=.build/fuzz/dbus- -print_final_stats=1 .build/fuzz/dbus-corpus Fuzz/dbus-corpus \
	  > .build/fuzz/dbus-fuzz.log 2>&1; then grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' .build/fuzz/dbus-fuzz.log; \
	else tail -60 .build/fuzz/dbus-fuzz.log; ls .build/fuzz/dbus-crash-* .build/fuzz/dbus-timeout-* .build/fuzz/dbus-oom-* 2>/dev/null; exit 1; fi

# No root, no containers, no cgroups: decoding, validation, cgroup value conversions,
# seccomp translation, state files.
unit:
	TEST_EVENTS=$(EVENTS) scripts/swift-test.sh "" --skip IntegrationTests --skip CgroupRootTests \
	  $(if $(TEST),--filter '$(TEST)')

# Root: real containers from a busybox rootfs (podman and containerd suites included),
# real cgroups, and parity with runc 1.5.1 from ../shared/tools.
integration: deps build
	TEST_EVENTS=$(EVENTS) scripts/swift-test.sh $(CURDIR)/$(BIN) --filter '$(if $(TEST),$(TEST),IntegrationTests|CgroupRootTests)'

lint:
	mkdir -p .build; $(SWIFT) format lint --strict --recursive Sources Tests Package.swift 2>&1 | tee .build/lint.txt; \
	  test ! -s .build/lint.txt

fmt:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

# Runs a busybox container from the bundled fixtures: the README's first command.
demo: deps build
	bash spec-fixtures/demo.sh

# 1,000 sequential run/delete cycles; fails if mounts, cgroups, state or open files grow.
soak: deps build
	bash spec-fixtures/soak.sh 1000

bench: deps build
	bash spec-fixtures/bench/bench.sh

# The `--systemd-cgroup` row where systemd is PID 1: bench.sh's run and systemd rows in the
# systemd VM (Tests/systemd/bench.sh), apus against runc; reported, not a target.
bench-systemd: deps build
	APUS_SYSTEMD_CHECKS=$(CURDIR)/Tests/systemd/bench.sh Tests/systemd/run.sh $(CURDIR)/$(BIN)

# The binary, bash/zsh/fish completions and the man page (apus.8), all generated from
# the CLI definition.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/apus
	install -d $(DESTDIR)/usr/share/bash-completion/completions $(DESTDIR)/usr/share/zsh/vendor-completions \
	  $(DESTDIR)/usr/share/fish/vendor_completions.d $(DESTDIR)$(PREFIX)/share/man/man8
	$(BIN) --generate-completion-script bash > $(DESTDIR)/usr/share/bash-completion/completions/apus
	$(BIN) --generate-completion-script zsh > $(DESTDIR)/usr/share/zsh/vendor-completions/_apus
	$(BIN) --generate-completion-script fish > $(DESTDIR)/usr/share/fish/vendor_completions.d/apus.fish
	python3 scripts/gen-man.py $(BIN) > $(DESTDIR)$(PREFIX)/share/man/man8/apus.8

clean:
	rm -rf .build

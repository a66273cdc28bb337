# Custos — build, test and demo entry points.
#   make demo   the main job: a tour of Custos on a temporary data directory
#   make cluster-demo   a four-replica network from bundles to operational, its key log verified
#   make dist   the release tarball (docs/install.md); make dist-check runs it without Swift
#   make test   the whole suite: the alert rules' unit tests (promtool), Swift tests, the valgrind
#               constant-time check, then the interop suite (installs what it needs)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

SWIFT ?= swift
VENV  ?= .venv
PYTEST = $(VENV)/bin/pytest
SWIFT_TEST_FLAGS ?=
PYTEST_FLAGS ?=

.PHONY: all deps build test swift-test ct-valgrind alert-rules interop demo cluster-demo bench dist dist-check clean-venv

all: build

deps:
	scripts/install-deps.sh

# One SwiftPM build for everything (library, CLI and test targets).
build:
	$(SWIFT) build --build-tests

# Never two SwiftPM builds at once: one build, then tests without building.
# pytest exits 5 when it collected no test; that fails here like any other non-zero code.
test: deps alert-rules
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build $(SWIFT_TEST_FLAGS)
	scripts/ct-valgrind.sh
	$(PYTEST) -q interop $(PYTEST_FLAGS)

# BLS12-381 constant-time check under valgrind (part of `make test`).
ct-valgrind:
	$(SWIFT) build --product bls-ct-check
	scripts/ct-valgrind.sh

# The Prometheus alert rules: syntax, and their unit tests (series in, alerts out).
alert-rules: deps
	cd packaging/prometheus && promtool check rules custos-alerts.yml && promtool test rules custos-alerts.test.yml

interop: deps
	$(SWIFT) build --product custos
	$(PYTEST) -q interop $(PYTEST_FLAGS)

demo: deps
	$(SWIFT) build --product custos
	scripts/demo.sh

# Four replicas on loopback from bundles to operational, the key log verified (scripts/cluster-demo.sh).
cluster-demo: deps
	$(SWIFT) build --product custos
	scripts/cluster-demo.sh

# The release tarball in dist/ (scripts/dist.sh; a static-stdlib release build in .build-release, minutes).
dist:
	SWIFT=$(SWIFT) scripts/dist.sh

# The newest tarball in dist/ run in a Debian root without Swift (needs root and debootstrap;
# not part of `make test`: minutes).
dist-check:
	scripts/dist-check.sh

# Optional, not part of `make test` (release build, minutes).
bench:
	@test -d Benchmarks || { echo "make bench: no Benchmarks/ package yet" >&2; exit 1; }
	cd Benchmarks && $(SWIFT) package benchmark

clean-venv:
	rm -rf $(VENV)

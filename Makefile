# docker-socket-filter build and test entry points.
#   make check  the everyday loop: gofmt, vet, staticcheck and the unit tests
#               that need neither root nor an engine; well under a minute.
#   make test   what CI runs: as root, installs what is missing
#               (scripts/deps.sh), starts a private Docker engine and runs
#               every test against it, then the fuzz targets and the package
#               tests. Whatever it needs and lacks fails the run; nothing skips.
# The build's tools (staticcheck, nfpm, go-md2man) are pinned in a module of
# their own, tools/go.mod, so go.mod lists only what the binary links.

GO       ?= go
VERSION  ?= $(shell scripts/version.sh)
LONGVERSION := $(shell scripts/version.sh --long)
LDFLAGS   = -s -w -X main.version=$(if $(filter $(VERSION),$(shell scripts/version.sh)),$(LONGVERSION),$(VERSION))
BIN      := bin/docker-socket-filter
TOOL      = $(GO) tool -modfile=$(CURDIR)/tools/go.mod
# Fuzz budgets count inputs, not seconds: a time budget can end the run with
# "context deadline exceeded" and no finding (golang/go#75804). The counts
# take a few seconds each on two cores; `make fuzz` multiplies them.
FUZZSCALE ?= 1
# Packages whose tests need no root and no engine.
CHECK_PKGS := ./cmd/... ./config ./filter ./identity ./internal/h1 ./internal/logfmt ./internal/peerproc ./internal/procfs ./learn ./listener ./proxy ./systemd

.PHONY: all build run check test lint fuzz fuzz-short bench deps package test-packages clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/docker-socket-filter

# Runs the filter on its embedded default policy (tecnativa's variables)
# in front of the system's engine socket.
run: deps build
	$(BIN) serve --listen /run/docker-filtered.sock --upstream unix:///var/run/docker.sock

deps:
	scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOL) staticcheck ./...

# No root, no engine, nothing installed: lint and the unit tests.
check: lint
	$(GO) test -race -count=1 $(CHECK_PKGS)

# Every test, against a real engine, with the race detector, then a short
# run of each fuzz target.
test: deps lint build
	DSF_TEST_FILTER_BIN=$(CURDIR)/$(BIN) scripts/engine.sh $(GO) test -race -count=1 ./...
	$(MAKE) fuzz-short
	$(MAKE) test-packages

# A crasher fails the run and is written to its package's testdata/fuzz.
fuzz-short:
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzParsePath$$' -fuzztime $$((100000 * $(FUZZSCALE)))x
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $$((100000 * $(FUZZSCALE)))x
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzJudgeCreate$$' -fuzztime $$((50000 * $(FUZZSCALE)))x
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzFilterList$$' -fuzztime $$((100000 * $(FUZZSCALE)))x
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzListBound$$' -fuzztime $$((100000 * $(FUZZSCALE)))x
	$(GO) test ./internal/h1 -run '^$$' -fuzz '^FuzzServesLikeNetHTTP$$' -fuzztime $$((20000 * $(FUZZSCALE)))x
	$(GO) test ./internal/logfmt -run '^$$' -fuzz '^FuzzWritesAsSlog$$' -fuzztime $$((50000 * $(FUZZSCALE)))x

# Sixty times the inputs: a few minutes for each target.
fuzz:
	$(MAKE) fuzz-short FUZZSCALE=60

# The engine's socket directly, HAProxy with tecnativa's allowlist and the
# filter, side by side in one run (internal/bench): rates, latencies, CPU
# per request, memory per idle events stream. A few minutes; it asserts
# nothing.
bench: deps build
	DSF_TEST_FILTER_BIN=$(CURDIR)/$(BIN) scripts/engine.sh $(GO) run ./internal/bench

DIST ?= dist

# dist/docker-socket-filter_<ver>_amd64.deb and dist/docker-socket-filter-<ver>-1.x86_64.rpm
package: build
	mkdir -p $(DIST) dist/man
	$(TOOL) go-md2man -in docs/docker-socket-filter.8.md | gzip -9n > dist/man/docker-socket-filter.8.gz
	rm -f $(DIST)/*.deb $(DIST)/*.rpm
	VERSION=$(VERSION) $(TOOL) nfpm package --config packaging/nfpm.yaml --packager deb --target $(DIST)/
	VERSION=$(VERSION) $(TOOL) nfpm package --config packaging/nfpm.yaml --packager rpm --target $(DIST)/

# Installs, upgrades and removes the packages in a booted systemd instance
# (Debian bookworm, cached under /var/cache), against the private engine.
test-packages: deps
	$(MAKE) package
	$(MAKE) package VERSION=$$(scripts/version.sh --next) DIST=dist/next
	$(MAKE) build
	scripts/engine.sh scripts/test-packages.sh

clean:
	rm -rf bin dist

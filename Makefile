# docker-socket-filter build and test entry points. `make test` is what CI
# runs: it installs what is missing, starts a private Docker engine and runs
# every test against it.

GO       ?= go
VERSION  ?= $(shell scripts/version.sh)
LONGVERSION := $(shell scripts/version.sh --long)
LDFLAGS   = -s -w -X main.version=$(if $(filter $(VERSION),$(shell scripts/version.sh)),$(LONGVERSION),$(VERSION))
BIN      := bin/docker-socket-filter
FUZZTIME ?= 10s

.PHONY: all build run test lint fuzz fuzz-short bench deps package test-packages clean

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
	$(GO) tool staticcheck ./...

# Every test, against a real engine, with the race detector, then a short
# run of each fuzz target.
test: deps lint build
	DSF_TEST_FILTER_BIN=$(CURDIR)/$(BIN) scripts/engine.sh $(GO) test -race -count=1 ./...
	$(MAKE) fuzz-short
	$(MAKE) test-packages

fuzz-short:
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzParsePath$$' -fuzztime $(FUZZTIME)
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME)
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzJudgeCreate$$' -fuzztime $(FUZZTIME)

fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m

# Requests per second through the filter divided by the same against the
# engine directly, measured in one run. A measurement: it asserts nothing.
bench: deps build
	DSF_TEST_FILTER_BIN=$(CURDIR)/$(BIN) scripts/engine.sh $(GO) run ./internal/bench

DIST ?= dist

# dist/docker-socket-filter_<ver>_amd64.deb and dist/docker-socket-filter-<ver>-1.x86_64.rpm
package: build
	mkdir -p $(DIST) dist/man
	$(GO) tool go-md2man -in docs/docker-socket-filter.8.md | gzip -9n > dist/man/docker-socket-filter.8.gz
	rm -f $(DIST)/*.deb $(DIST)/*.rpm
	VERSION=$(VERSION) $(GO) tool nfpm package --config packaging/nfpm.yaml --packager deb --target $(DIST)/
	VERSION=$(VERSION) $(GO) tool nfpm package --config packaging/nfpm.yaml --packager rpm --target $(DIST)/

# Installs, upgrades and removes the packages in a booted systemd instance
# (Debian bookworm, cached under /var/cache), against the private engine.
test-packages: deps
	$(MAKE) package
	$(MAKE) package VERSION=$$(scripts/version.sh --next) DIST=dist/next
	$(MAKE) build
	scripts/engine.sh scripts/test-packages.sh

clean:
	rm -rf bin dist

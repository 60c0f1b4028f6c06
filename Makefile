# docker-socket-filter build and test entry points. `make test` is what CI
# runs: it installs what is missing, starts a private Docker engine and runs
# every test against it.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/docker-socket-filter
FUZZTIME ?= 10s

.PHONY: all build run test unit lint fuzz fuzz-short bench deps clean

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

fuzz-short:
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzParsePath$$' -fuzztime $(FUZZTIME)
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME)

fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m

# Requests per second through the filter divided by the same against the
# engine directly, measured in one run. A measurement: it asserts nothing.
bench: deps build
	DSF_TEST_FILTER_BIN=$(CURDIR)/$(BIN) scripts/engine.sh $(GO) run ./internal/bench

clean:
	rm -rf bin dist

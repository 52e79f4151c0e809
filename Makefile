# aside: the two commands a newcomer needs are `go run ./cmd/aside-server`
# and `make test`.

GO ?= go
# Tests that need redis-server fail instead of skipping when CI is set:
# `make test` installs what they need, so a skip would only hide a fault.
export CI ?= 1

.PHONY: test vet services bench scenarios fuzz

# Every module of the workspace (go.work): the library at the root, the
# platform, the commands, and the peer benchmarks.
PACKAGES = ./... ./platform/... ./cmd/... ./bench/peers/...

test: services vet
	$(GO) test -race -count=1 -timeout 9m $(PACKAGES)

vet:
	$(GO) vet $(PACKAGES)

# Installs what the tests need when it is missing (Debian packages).
services:
	./scripts/services.sh

# Library benchmarks beside their baselines, -count=$(COUNT), summarised by benchstat.
COUNT ?= 10
bench: services
	COUNT=$(COUNT) ./scripts/bench.sh

# The HTTP, stampede, pattern-delete and warm-up scenarios of docs/PERFORMANCE.md,
# then the report and docs/latency.png (about 8 minutes).
scenarios: services
	./scripts/scenarios.sh all

# A short run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzKey$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEntry$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzInspectEntry$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./internal/glob
	$(GO) test -run '^$$' -fuzz '^FuzzCheckUnicode$$' -fuzztime $(FUZZTIME) ./platform/httpapi

# Rockstar: build, test, benchmark and lint. Every target works on a fresh
# clone with only Go installed (plus network access to the module proxy for
# the pinned staticcheck).

GO          ?= go
PKGS        ?= ./...
# staticcheck is run from the module proxy at a pinned version, so that
# nothing has to be installed first; v0.8.2 (2026.1.x) knows Go 1.26.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# make bench BENCH=RequestPath COUNT=10 > new.txt; benchstat old.txt new.txt
BENCH       ?= .
COUNT       ?= 1
BENCHTIME   ?= 1s
# make fuzz FUZZTIME=1m
FUZZTIME    ?= 10s

.PHONY: all build test bench bench-compare lint fmt vet staticcheck fuzz

all: build lint test

build:
	$(GO) build $(PKGS)

# The allocation proofs build only without -race (which allocates itself).
test:
	$(GO) test -race $(PKGS)
	$(GO) test -run Alloc ./worker/... ./supervisor/child/

# The output is benchstat's input format: keep it whole, redirect it to a file.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) -benchtime $(BENCHTIME) $(PKGS)

# Rockstar beside nginx, bare fasthttp and fasthttp's prefork under wrk
# (needs wrk and nginx: apt-get install -y wrk nginx). Shorter runs:
# make bench-compare BENCH_DURATION=2s BENCH_ROUNDS=2. See bench/RESULTS.md.
bench-compare:
	$(GO) run ./bench/compare

lint: fmt vet staticcheck

fmt:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

# Runs every Fuzz target of every package for FUZZTIME each (go test allows
# one fuzz target per run). New seed-corpus failures land in testdata/fuzz.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "== $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

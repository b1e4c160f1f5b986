# Talos. `make run` starts a local cluster; `make test` runs the tests.
GO       ?= go
PKGS     ?= ./...
# -race roughly triples test time; CI runs it, set RACE= to skip locally.
RACE     ?= -race
TIMEOUT  ?= 20m

.PHONY: all build deps run test vet unit softroce-test bench-quick fuzz clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	$(GO) build -o talosd ./cmd/talosd

run: build
	@scripts/deps.sh run
	./talosd cluster up --replicas 2 --dir ./.cache/cluster --port 6380

test: vet unit

vet: deps
	@scripts/deps.sh test
	$(GO) vet $(PKGS)

unit: deps
	$(GO) test $(RACE) -timeout $(TIMEOUT) -count=1 $(PKGS)

# The verbs transport on Soft-RoCE inside a qemu guest (see softroce/README.md).
softroce-test: deps
	bash softroce/vm/run.sh

bench-quick: build
	$(GO) run ./bench/cmd/talosbench --quick --out ./.cache/bench-quick

# Short fuzzing runs of every fuzz target (FUZZTIME each).
FUZZTIME ?= 10s
fuzz:
	@for p in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
	  done; done

clean:
	rm -rf talosd .cache

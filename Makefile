# Talos. `make run` starts a local cluster; `make test` runs the tests.
GO       ?= go
PKGS     ?= ./...
# -race roughly triples test time; CI runs it. `make test RACE=` skips it.
RACE     ?= -race
TIMEOUT  ?= 30m

.PHONY: all build deps run test vet unit cli-test softroce-test bench-quick fuzz clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	$(GO) build -o talosd ./cmd/talosd

# A primary and two backups on 127.0.0.1 (ports 6380-6382), replicating
# over RDMA when a device exists, else TCP. Ctrl-C stops them.
run: build
	@scripts/deps.sh run
	./talosd cluster up --replicas 2 --dir ./.cache/cluster --port 6380

test: vet cli-test unit

vet: deps
	@scripts/deps.sh test
	$(GO) vet $(PKGS)

unit: deps
	$(GO) test $(RACE) -timeout $(TIMEOUT) -count=1 $(PKGS)

# redis-cli and redis-benchmark against a real talosd.
cli-test: build
	@scripts/deps.sh test
	TALOSD=$(CURDIR)/talosd PORT=16390 bash server/testdata/redis-cli.sh

# The verbs transport on Soft-RoCE inside a qemu guest (see softroce/README.md).
softroce-test: deps
	bash softroce/vm/run.sh

bench-quick: build
	$(GO) run ./bench/cmd/talosbench --quick --check-ship-index --talosd ./talosd --out ./.cache/bench-quick

# Short fuzzing runs of every fuzz target (FUZZTIME each).
FUZZTIME ?= 10s
fuzz:
	@for p in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
	  done; done

clean:
	rm -rf talosd .cache

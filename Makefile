# raftcheck: build, test, prove.
#
#   make test          vet, gofmt, unit/e2e tests (no Docker), short fuzzing
#   make test-jepsen   the default campaign against raftnode in containers
#   make bench         local 3-process cluster: throughput, latency, failover
#   make mutants       the mutation-testing corpus (mutants/) against sim and unit tests

GO        ?= go
RESULTS   ?= results
# A count, not a duration: go1.26's fuzz coordinator can report a bare
# "context deadline exceeded" as a failure when a duration runs out
# (golang/go#75804, fixed in go1.27); a CI dry run failed on it.
FUZZTIME  ?= 10000x
BIN       := bin

export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: all build test vet fmt-check unit fuzz bench test-jepsen sim-campaign campaign mutants clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/raftnode ./cmd/raftnode
	$(GO) build -o $(BIN)/raftcheck ./cmd/raftcheck

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test ./...

# Each fuzz target briefly, so a decoder that panics on garbage fails CI.
FUZZ_TARGETS := \
	./node/storage:FuzzDecodeRecord ./node/storage:FuzzOpen \
	./node/transport:FuzzReadFrame ./node/transport:FuzzDecodeMessage \
	./node/kv:FuzzUnmarshalCommand ./node/kv:FuzzRestore \
	./node/server:FuzzDecodeWrite ./node/server:FuzzDecodeCAS ./node/server:FuzzDecodeSession ./node/server:FuzzOpResponse \
	./checker:FuzzReader

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); \
	done

test: vet fmt-check unit fuzz

bench: build
	$(GO) run ./cmd/raftbench --raftnode $(BIN)/raftnode
	$(GO) test -run '^$$' -bench . -benchtime 3x ./harness/sim/ ./node/storage/

# The main job: 5 raftnode containers, register workload, partitions,
# kills and pauses for 60 s, checked by porcupine. Exit status as
# raftcheck test: 0 valid, 1 invalid, 2 unknown, 3 harness error.
test-jepsen: build image
	$(BIN)/raftcheck test --backend docker --nodes 5 --workload register \
		--nemesis partition,kill,pause --time-limit 60s --results $(RESULTS)

# Many seeds in the simulator, no Docker needed.
sim-campaign: build
	$(BIN)/raftcheck sim --seeds 1000 --results $(RESULTS)

# Run a campaign spec: runs into $(RESULTS), summary under
# $(RESULTS)/campaigns/<ts>/, JUnit at $(JUNIT). Docker entries need
# `make image`. Exit: 0 all passed, 1 a run failed, 3 harness error,
# 2 unknown.
# CAMPAIGN_FLAGS adds flags, e.g. "--shard 3/8 --campaign-seed 42" (the
# nightly workflow's matrix; raftcheck campaign merge joins the shards).
SPEC  ?= campaigns/smoke.yaml
JUNIT ?= $(RESULTS)/junit.xml
CAMPAIGN_FLAGS ?=

campaign: build
	$(BIN)/raftcheck campaign --spec $(SPEC) --junit $(JUNIT) --results $(RESULTS) $(CAMPAIGN_FLAGS)

# Each mutant of mutants/ applied to a copy of the module, SEEDS sim seeds
# and the node's unit tests run against it; the table is printed and
# stored under $(RESULTS)/mutants/<ts>/. Fails (exit 1) when the catch
# rate drops below mutants/BASELINE.json. ONLY=a,b runs some mutants.
# A sim run past SIM_TIMEOUT counts as a hang (caught); a healthy tree
# runs 1000 seeds in a few minutes.
SEEDS        ?= 1000
MUTANT_UNITS ?= ./node/...
ONLY         ?=
SIM_TIMEOUT  ?= 15m

mutants:
	$(GO) run ./cmd/raftmutants --seeds $(SEEDS) --units "$(MUTANT_UNITS)" --only "$(ONLY)" \
		--sim-timeout $(SIM_TIMEOUT) --results $(RESULTS)

clean:
	rm -rf $(BIN)

include docker.mk

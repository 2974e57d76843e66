# Images for the docker backend. Included by the main Makefile.
NODE_IMAGE ?= raftcheck/raftnode:dev
ETCD_IMAGE ?= raftcheck/etcd:dev

.PHONY: base-image image etcd-image bench-compare

# debian:bookworm-slim, built locally with debootstrap when no registry has it.
base-image:
	scripts/base-image.sh

# The raftnode image from the static binary.
image: base-image
	CGO_ENABLED=0 go build -trimpath -o bin/raftnode ./cmd/raftnode
	CGO_ENABLED=0 go build -trimpath -o bin/lazyfs ./cmd/lazyfs
	CGO_ENABLED=0 go build -trimpath -o bin/netdelay ./cmd/netdelay
	docker build -f Dockerfile.node -t $(NODE_IMAGE) .

# etcd (Debian's etcd-server 3.4) on the same base: the second target,
# raftcheck test --target etcd.
etcd-image: base-image
	CGO_ENABLED=0 go build -trimpath -o bin/lazyfs ./cmd/lazyfs
	CGO_ENABLED=0 go build -trimpath -o bin/netdelay ./cmd/netdelay
	docker build -f Dockerfile.etcd -t $(ETCD_IMAGE) .

# raftnode and etcd side by side in containers: throughput, latency and
# failover; a table on stdout, JSON and node logs under $(RESULTS)/bench-compare/.
bench-compare: image etcd-image
	$(GO) run ./cmd/benchcompare --results $(RESULTS)

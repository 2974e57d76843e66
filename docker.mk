# Images for the docker backend. Included by the main Makefile.
NODE_IMAGE ?= raftcheck/raftnode:dev

.PHONY: base-image image

# debian:bookworm-slim, built locally with debootstrap when no registry has it.
base-image:
	scripts/base-image.sh

# The raftnode image from the static binary.
image: base-image
	CGO_ENABLED=0 go build -trimpath -o bin/raftnode ./cmd/raftnode
	docker build -f Dockerfile.node -t $(NODE_IMAGE) .

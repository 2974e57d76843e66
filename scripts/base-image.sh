#!/usr/bin/env bash
# base-image.sh: make sure the image debian:bookworm-slim exists locally.
#
# Where a registry is reachable, `docker pull debian:bookworm-slim` is all it
# takes. This machine has none, so when the image is missing we build an
# equivalent with debootstrap (minbase plus iptables, iproute2 and
# ca-certificates) and import it under the official name: Dockerfile.node's
# FROM line then works unchanged in both places. Idempotent: an existing
# image is left alone (remove it with `docker rmi debian:bookworm-slim` to
# rebuild).
set -euo pipefail

IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
INCLUDE="iptables,iproute2,ca-certificates"

say() { printf 'base-image: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v docker >/dev/null || die "docker CLI not found: install docker.io"
docker info >/dev/null 2>&1 || die "no Docker engine answered: start dockerd or set DOCKER_HOST"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
	say "$IMAGE exists locally; nothing to do"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	die "building $IMAGE with debootstrap needs root (run: sudo $0)"
fi

if ! command -v debootstrap >/dev/null; then
	say "installing debootstrap"
	apt-get update -qq || die "apt-get update failed: check network access to the Debian mirror"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
		die "could not install debootstrap"
fi

DIR="$(mktemp -d "${TMPDIR:-/tmp}/base-image.XXXXXX")"
cleanup() { rm -rf --one-file-system "$DIR"; }
trap cleanup EXIT

say "$IMAGE not found locally: building it with debootstrap ($SUITE, minbase + $INCLUDE) from $MIRROR (about a minute)"
start=$(date +%s)
if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$DIR" "$MIRROR" >"$DIR.log" 2>&1; then
	tail -n 20 "$DIR.log" >&2
	rm -f "$DIR.log"
	die "debootstrap failed (log above): check network access to $MIRROR"
fi
rm -f "$DIR.log"
# Slim it like the official image: no apt lists, caches or docs.
rm -rf "$DIR"/var/lib/apt/lists/* "$DIR"/var/cache/apt/*.bin "$DIR"/var/cache/apt/archives/*.deb \
	"$DIR"/usr/share/doc/* "$DIR"/usr/share/man/* "$DIR"/usr/share/locale/*

say "importing into Docker as $IMAGE"
tar -C "$DIR" -c . | docker import \
	--change 'CMD ["bash"]' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--message "debootstrap --variant=minbase --include=$INCLUDE $SUITE (built by scripts/base-image.sh)" \
	- "$IMAGE" >/dev/null
say "built $IMAGE in $(( $(date +%s) - start ))s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"

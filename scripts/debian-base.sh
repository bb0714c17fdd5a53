#!/usr/bin/env bash
# Makes the Debian image the package test (internal/releasetest) installs
# the .deb into, unless podman already has it: IMAGE (first argument).
#
# Why not `FROM debian:bookworm`: there may be no container registry in
# reach (CI has none), while Debian's package archive is. debootstrap
# builds a minimal Debian (minbase: dpkg, apt, coreutils, passwd's
# useradd) from that archive, plus systemd (to verify the package's unit
# with systemd-analyze and to run it under its hardening) and procps
# (/bin/kill, the unit's ExecReload), and podman imports it as a local
# image, so this runs once per machine (about two minutes) and never again.
#
# The suite is the host's own (a Debian host: VERSION_CODENAME of
# /etc/os-release), so that the mirror apt uses here serves it; MIRROR
# overrides the mirror, SUITE the suite.
set -euo pipefail

readonly IMAGE=${1:?usage: debian-base.sh IMAGE}
read -r -a podman <<<"${PODMAN:-podman}"

if "${podman[@]}" image exists "$IMAGE"; then
	exit 0
fi
for tool in debootstrap "${podman[0]}"; do
	if ! command -v "$tool" >/dev/null; then
		echo "debian-base.sh: $tool is missing: run 'make setup' (scripts/setup-debian.sh installs it)" >&2
		exit 1
	fi
done

# shellcheck source=/dev/null
. /etc/os-release
SUITE=${SUITE:-${VERSION_CODENAME:-bookworm}}
if [[ -z ${MIRROR:-} ]]; then
	# The first Debian archive apt is configured with on this machine.
	MIRROR=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		grep -oE 'https?://[^ ]+' | head -1 || true)
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "debian-base.sh: building $IMAGE with debootstrap ($SUITE from $MIRROR); once per machine, about two minutes"
if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,procps "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1; then
	tail -20 "$rootfs.log" >&2
	rm -f "$rootfs.log"
	echo "debian-base.sh: debootstrap failed (log above)" >&2
	exit 1
fi
rm -f "$rootfs.log"
# The package lists and the .debs debootstrap fetched are not needed.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | "${podman[@]}" import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "debian-base.sh: $IMAGE built"

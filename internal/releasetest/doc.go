// Package releasetest checks what `make release` writes (dist/release):
// the checksums, the tarballs, and the amd64 .deb installed into a Debian
// container the way an operator installs it, with podman.
//
// Its tests carry the build tag "release" and are run by
// `make release-test` (part of `make test`), which builds the release and
// the Debian base image first (scripts/debian-base.sh) and says how to run
// podman on the machine (PODMAN, PODMAN_RUN_FLAGS, DEBIAN_BASE,
// RELEASE_DIR):
//
//	make release-test
//
// They must never pull: registries may be out of reach, and the base
// image is made from Debian's package archive.
package releasetest

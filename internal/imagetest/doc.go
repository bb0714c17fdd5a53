// Package imagetest runs the container image that the repository's
// Dockerfile builds (`make image`, a manifest list for amd64 and arm64)
// the way users run it, against a real Pushgateway and a real
// VictoriaMetrics, and checks that examples/compose names what the image
// and its configs really hold.
//
// Its tests carry the build tag "image" and are run by `make image-test`
// (part of `make test`), which builds the image first and says how to run
// podman on the machine (PODMAN, PODMAN_RUN_FLAGS, PUSHAGENT_IMAGE):
//
//	make image-test
//
// They must never pull: registries may be out of reach, and the image
// under test is the one just built from this checkout.
package imagetest

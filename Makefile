# pushagent's build and test entry points. `make test` is the one test
# command (README, .ci/run); `make build` is what the Dockerfile runs.
SHELL := /bin/bash
GO ?= go
PLUGINS := $(patsubst plugins/%/main.go,%,$(wildcard plugins/*/main.go))
PLUGIN_WASM := $(patsubst %,plugins/%.wasm,$(PLUGINS))
GOFILES := $(shell find . -name '*.go' -not -path './.git/*')
# sdk is a module of its own (no requirements, so plugins link nothing but
# it); the root module requires it through a replace directive, so every
# target that covers the root module covers ./sdk with a second command.
SDK := sdk
# Each fuzz target gets this long in `make test`; raise it for a deeper run.
FUZZTIME ?= 10s

# The container image `make image` builds and `make image-test` runs. podman
# needs no daemon, but its defaults fail on the CI machine kind: there is no
# systemd to manage cgroups (so cgroupfs), and the open-files limit podman
# sets by default is refused (so the ulimits); runc is the runtime known to
# work there.
IMAGE ?= localhost/pushagent:dev
PODMAN ?= podman --cgroup-manager=cgroupfs --runtime runc
PODMAN_RUN_FLAGS ?= --ulimit nofile=1024:4096 --ulimit nproc=1024:4096

.PHONY: all build plugins dist dist-cross image image-test release release-test setup test test-go fuzz check fmt vet tidy-check quickstart clean bench

all: build

build: bin/pushagent plugins

# Version information, as Prometheus components carry it
# (github.com/prometheus/common/version, set with -X): `pushagent version`
# prints it and /metrics exports it as pushagent_build_info. VERSION is
# `git describe` of the nearest v-tag without its v: 1.2.0 at the tag, and
# three commits after it 1.2.0+3.gabc1234 (describe's 1.2.0-3-gabc1234
# would be a semver pre-release, which the packages sort before 1.2.0);
# -dirty with uncommitted changes. A history without a v-tag gives
# 0.0.0-<commit>, so that the packages still get a version.
GIT_DESCRIBE := $(shell git describe --tags --match 'v[0-9]*' --dirty --always 2>/dev/null)
VERSION ?= $(if $(filter v%,$(GIT_DESCRIBE)),$(shell echo '$(GIT_DESCRIBE)' | sed -E 's/^v//; s/-([0-9]+)-g([0-9a-f]+)/+\1.g\2/'),0.0.0-$(or $(GIT_DESCRIBE),unknown))
REVISION ?= $(or $(shell git rev-parse HEAD 2>/dev/null),unknown)
BRANCH ?= $(or $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null),unknown)
BUILD_USER ?= $(shell id -un)@$(shell hostname)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION_PKG := github.com/prometheus/common/version
# -s -w drops the symbol table and DWARF: a third of the binary, none of it
# loaded at run time (stack traces use Go's own tables), and the image
# ships this binary.
LDFLAGS := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(BUILD_USER) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

# CGO_ENABLED=0: static, since the image has no libc.
bin/pushagent: $(GOFILES) go.mod go.sum $(SDK)/go.mod
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(LDFLAGS)' -o $@ ./cmd/pushagent

plugins: $(PLUGIN_WASM)

# First-party plugins are reactors: one warm instance serves many runs.
plugins/%.wasm: $(GOFILES) go.mod go.sum $(SDK)/go.mod
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o $@ ./plugins/$*

# dist is the container image's content, made by the same commands CI runs
# (make test depends on it): the agent, the plugins, the bundled config, a
# compilation cache warmed by `validate`, so the container starts without
# compiling, and in dist/root what the image's FROM scratch stage needs
# besides: a passwd entry for the non-root user 65532 and CA certificates:
# Debian's ca-certificates (scripts/setup-debian.sh installs it), the
# Mozilla set only, so no CA the build machine added locally ships.
dist: build
	rm -rf dist/app dist/cache dist/root dist/state dist/pushagent && mkdir -p dist/app/plugins dist/app/examples dist/state
	cp bin/pushagent dist/pushagent
	cp $(PLUGIN_WASM) dist/app/plugins/
	cp schedules.yaml dist/app/
	cp -r examples/textfile dist/app/examples/
	cd dist/app && ../pushagent validate --config schedules.yaml --cache-dir ../cache >/dev/null
	mkdir -p dist/root/etc/ssl/certs
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >dist/root/etc/passwd
	printf 'root:x:0:\nnonroot:x:65532:\n' >dist/root/etc/group
	cat /usr/share/ca-certificates/mozilla/*.crt >dist/root/etc/ssl/certs/ca-certificates.crt
	@echo "dist: $$(du -sh dist | cut -f1) (agent $$(du -sh dist/pushagent | cut -f1), plugins $$(du -sh dist/app/plugins | cut -f1), cache $$(du -sh dist/cache | cut -f1))"

# The image's other architecture: dist's files with the agent built for
# it and an empty compilation cache, since only a machine of that
# architecture can warm it (a scratch image has no RUN step, so no
# emulator is needed and none could warm it). The agent compiles the
# plugins when it starts there.
IMAGE_ARCH := $(shell $(GO) env GOARCH)
IMAGE_OTHER_ARCH := $(filter-out $(IMAGE_ARCH),amd64 arm64)
dist-cross: dist
	rm -rf dist/cross && mkdir -p dist/cross/cache
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_OTHER_ARCH) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -o dist/cross/pushagent ./cmd/pushagent
	cp -r dist/app dist/root dist/state dist/cross/

# The image from the Dockerfile users build, for amd64 and arm64 as one
# manifest list, each final stage fed with this checkout's dist/ instead
# of the golang build stage (--build-context replaces the stage named
# dist): nothing is pulled, and the FROM scratch stage has no RUN step, so
# the foreign architecture needs no emulator. --format docker keeps the
# HEALTHCHECK, which the OCI image format has no field for. A previous
# list of the same name is removed first, or each run would add to it (a
# single image of that name, from before the list, loses the name).
image: dist dist-cross
	-@$(PODMAN) manifest rm $(IMAGE) >/dev/null 2>&1 || $(PODMAN) untag $(IMAGE) $(IMAGE) >/dev/null 2>&1
	$(PODMAN) build --format docker --platform linux/$(IMAGE_ARCH) --build-context dist=dist --manifest $(IMAGE) .
	$(PODMAN) build --format docker --platform linux/$(IMAGE_OTHER_ARCH) --build-context dist=dist/cross --manifest $(IMAGE) .
	@echo "image: $(IMAGE), manifest list of linux/$(IMAGE_ARCH) ($$($(PODMAN) image inspect --format '{{.Size}}' $(IMAGE) | awk '{printf "%.1f MB", $$1/1e6}')) and linux/$(IMAGE_OTHER_ARCH)"

# Runs the image against a real Pushgateway: internal/imagetest.
image-test: image
	PODMAN="$(PODMAN)" PODMAN_RUN_FLAGS="$(PODMAN_RUN_FLAGS)" PUSHAGENT_IMAGE=$(IMAGE) \
		$(GO) test -tags image -count=1 -v -timeout 10m ./internal/imagetest

# The release files (dist/release): for each platform a tarball, for the
# Linux ones a .deb and an .rpm with a hardened systemd unit, and
# SHA256SUMS. The agent is built here with LDFLAGS (version information);
# internal/release packages it with the plugins, which are the same wasm
# for every platform. Archived files carry the commit's time.
RELEASE_PLATFORMS := linux/amd64 linux/arm64 darwin/arm64 darwin/amd64
RELEASE_BUILD := dist/release-build
release: plugins
	rm -rf dist/release $(RELEASE_BUILD)
	@set -e; for p in $(RELEASE_PLATFORMS); do \
		echo "release: build pushagent $(VERSION) for $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags='$(LDFLAGS)' \
			-o $(RELEASE_BUILD)/$${p%/*}_$${p#*/}/pushagent ./cmd/pushagent; \
	done
	$(GO) run ./internal/release -version $(VERSION) -bin $(RELEASE_BUILD) -out dist/release \
		-mtime $$(git log -1 --format=%ct 2>/dev/null || date +%s) $(PLUGIN_WASM)
	rm -rf $(RELEASE_BUILD)

# Installs the amd64 .deb into a Debian container and checks it:
# internal/releasetest. The container's base is made offline-capable once
# (scripts/debian-base.sh: debootstrap from Debian's packages) and kept
# as a local image.
DEBIAN_BASE ?= localhost/pushagent-debian-base:bookworm
release-test: release
	@PODMAN="$(PODMAN)" bash scripts/debian-base.sh $(DEBIAN_BASE)
	PODMAN="$(PODMAN)" PODMAN_RUN_FLAGS="$(PODMAN_RUN_FLAGS)" DEBIAN_BASE=$(DEBIAN_BASE) RELEASE_DIR=$(CURDIR)/dist/release \
		$(GO) test -tags release -count=1 -v -timeout 10m ./internal/releasetest

# receivers.sh builds the OTLP and remote write 2.0 receivers the tests
# send to (newer than Debian's) into the user's cache, once per machine.
setup:
	@bash scripts/setup-debian.sh
	@bash scripts/receivers.sh

test: setup build dist image-test release-test fuzz test-go

test-go:
	$(GO) test -race -count=1 -timeout 30m ./...
	cd $(SDK) && $(GO) test -race -count=1 -timeout 10m ./...

# Bounded fuzzing of every parser of untrusted input; a crash fails the run.
# Go 1.26's fuzz coordinator can end a target with a bare "context deadline
# exceeded" when -fuzztime runs out mid-call (go.dev/issue/75804, fixed in
# Go 1.27): that writes no failing input and is reported, not failed.
# plugins/starlark's FuzzScript is left out here (its seeds still run in
# go test): some generated scripts (huge string repetition) run for seconds
# within the step limit, and `go test -fuzztime` then ends with "context
# deadline exceeded" instead of a result. Run it alone with a longer time:
#   go test ./plugins/starlark -run '^$' -fuzz FuzzScript -fuzztime 5m
fuzz:
	@set -e; for target in \
		./agent/config:FuzzParse \
		./agent/merge:FuzzParseAndMerge \
		./agent/merge:FuzzMergeMatchesReference \
		./agent/series:FuzzParseMatchesExpfmt \
		./agent/relabel:FuzzRulesKeepTheBatchWhole \
		./agent/wasmhost:FuzzParseHTTPRequest \
		./agent/wasmhost/internal/interrupt:FuzzInstrument \
		./agent/expire:FuzzDecodeGroups \
		./agent/expire:FuzzDeleteURL \
		./agent/remotewrite:FuzzBufferDecoder \
		./sdk:FuzzParseText \
		./sdk/httpcall:FuzzDecodeResult \
		./internal/sdkcheck:FuzzParseText \
		./internal/sdkcheck:FuzzWriter \
		./plugins/textfile:FuzzCollect \
		./plugins/scrape:FuzzCollect \
		./plugins/httpjson:FuzzPath \
		./plugins/httpjson:FuzzCollect \
		./plugins/httpprobe:FuzzCollect \
		./plugins/procfs:FuzzParseLoadavg \
		./plugins/procfs:FuzzParseMeminfo \
		./plugins/procfs:FuzzParseStat; do \
		pkg=$${target%%:*}; fn=$${target#*:}; log=$$(mktemp); dir=.; \
		case $$pkg in ./$(SDK)|./$(SDK)/*) dir=$(SDK); pkg=.$${pkg#./$(SDK)};; esac; \
		if ! (cd $$dir && $(GO) test $${pkg:-.} -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME)) >$$log 2>&1; then \
			if grep -qx '    context deadline exceeded' $$log && ! grep -q 'Failing input written to' $$log; then \
				echo "fuzz $${target%%:*} $$fn: $$(grep -o 'elapsed: [^,]*, execs: [0-9]*' $$log | tail -1), no crash (ended by Go's fuzztime race, go.dev/issue/75804, fixed in Go 1.27: no failing input)"; \
				rm -f $$log; continue; fi; \
			cat $$log; rm -f $$log; exit 1; fi; \
		echo "fuzz $${target%%:*} $$fn: $$(grep -o 'elapsed: [^,]*, execs: [0-9]*' $$log | tail -1), no crash"; rm -f $$log; \
	done

check: fmt vet tidy-check test

fmt:
	@out=$$(gofmt -l .); if [[ -n $$out ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd $(SDK) && $(GO) vet ./...
	cd $(SDK) && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./plugins/... ./internal/benchplugin/...
	$(GO) vet -tags image ./internal/imagetest
	$(GO) vet -tags release ./internal/releasetest

tidy-check:
	@cp go.mod /tmp/pushagent.go.mod.bak; cp go.sum /tmp/pushagent.go.sum.bak; \
	$(GO) mod tidy; \
	if ! diff -q go.mod /tmp/pushagent.go.mod.bak >/dev/null || ! diff -q go.sum /tmp/pushagent.go.sum.bak >/dev/null; then \
		echo "go mod tidy changed go.mod/go.sum; commit the result"; exit 1; fi
	@cp $(SDK)/go.mod /tmp/pushagent.sdk.go.mod.bak; \
	(cd $(SDK) && $(GO) mod tidy); \
	if ! diff -q $(SDK)/go.mod /tmp/pushagent.sdk.go.mod.bak >/dev/null || [[ -e $(SDK)/go.sum ]]; then \
		echo "go mod tidy changed $(SDK)/go.mod (the sdk module must have no requirements); commit the result"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./agent/... ./internal/sdkcheck
	cd $(SDK) && $(GO) test -run '^$$' -bench . -benchmem -count 5 .

# Command 1 of the README: a local gateway plus the agent on schedules.yaml.
quickstart: setup build
	@bash scripts/quickstart.sh

clean:
	rm -rf bin dist $(PLUGIN_WASM)

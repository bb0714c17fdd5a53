package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

// program is the name version.Print and the build_info metric use.
const program = "pushagent"

// A release build sets github.com/prometheus/common/version's variables
// with -ldflags -X from `git describe` (Makefile, LDFLAGS), as Prometheus
// components are built. A plain `go build` or `go install` sets none of
// them; init fills the gaps from what the Go toolchain recorded, so that
// `pushagent version` and pushagent_build_info still say something true
// instead of empty fields.
func init() {
	info, _ := debug.ReadBuildInfo()
	fillVersion(info)
}

// fillVersion sets the version variables a build left empty: the module
// version `go install …@vX.Y.Z` records (the Go toolchain's "(devel)" for a
// checkout is shown as "devel"), the commit time for the build date of a
// checkout, and "unknown" where nothing is known. The revision needs
// nothing here: version.GetRevision falls back to the VCS revision itself.
func fillVersion(info *debug.BuildInfo) {
	if version.Version == "" {
		version.Version = "devel"
		if info != nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version.Version = strings.TrimPrefix(info.Main.Version, "v")
		}
	}
	if version.BuildDate == "" {
		version.BuildDate = "unknown"
		if info != nil {
			for _, s := range info.Settings {
				if s.Key == "vcs.time" {
					version.BuildDate = "unknown (commit " + s.Value + ")"
				}
			}
		}
	}
	for _, v := range []*string{&version.Branch, &version.BuildUser} {
		if *v == "" {
			*v = "unknown"
		}
	}
}

// versionLine is the one-line form, for the status page's footer:
// "pushagent 1.2.0 (revision 0123abcd, go1.26.8)".
func versionLine() string {
	rev := version.GetRevision()
	return fmt.Sprintf("%s %s (revision %s, %s)", program, version.Version, rev[:min(len(rev), 12)], version.GoVersion)
}

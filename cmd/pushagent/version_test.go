package main

import (
	"runtime/debug"
	"testing"

	"github.com/prometheus/common/version"
)

// What a build without the release's -ldflags shows: a `go install
// …@v1.2.3` gives its module version, a checkout "devel" and its commit
// time, and nothing is left empty. What -ldflags set is never replaced.
func TestFillVersion(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		set                  string // Version as -ldflags set it
		info                 *debug.BuildInfo
		version, date, other string
	}{
		{"go install of a tag", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "1.2.3", "unknown", "unknown"},
		{"checkout", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}}},
			"devel", "unknown (commit 2026-01-02T03:04:05Z)", "unknown"},
		{"no build information", "", nil, "devel", "unknown", "unknown"},
		{"release build", "1.4.0", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "1.4.0", "unknown", "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := []string{version.Version, version.BuildDate, version.Branch, version.BuildUser}
			t.Cleanup(func() {
				version.Version, version.BuildDate, version.Branch, version.BuildUser = saved[0], saved[1], saved[2], saved[3]
			})
			version.Version, version.BuildDate, version.Branch, version.BuildUser = tc.set, "", "", ""
			fillVersion(tc.info)
			if version.Version != tc.version || version.BuildDate != tc.date || version.Branch != tc.other || version.BuildUser != tc.other {
				t.Errorf("version %q, build date %q, branch %q, user %q; want %q, %q, %q", version.Version, version.BuildDate, version.Branch, version.BuildUser, tc.version, tc.date, tc.other)
			}
		})
	}
}

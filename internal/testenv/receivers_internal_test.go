package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReceiverPaths: the versions come from scripts/receivers.sh, and the
// path is the one the script installs to.
func TestReceiverPaths(t *testing.T) {
	vm, prom := receiverVersion(t, "VM_VERSION"), receiverVersion(t, "PROM_VERSION")
	if !strings.HasPrefix(vm, "v1.") || !strings.HasPrefix(prom, "v0.") {
		t.Fatalf("versions %q and %q; want VictoriaMetrics v1.x and Prometheus' module v0.x", vm, prom)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skip(err)
	}
	if got, want := receiverPath(t, "victoria-metrics", vm), filepath.Join(cache, "pushagent", "receivers", "victoria-metrics-"+vm, "victoria-metrics"); got != want {
		t.Errorf("path %s, want %s", got, want)
	}
}

//go:build !(linux || darwin || freebsd)

package linmem

import "testing"

func TestNewIsNilWithoutMmap(t *testing.T) {
	if a := New(); a != nil {
		t.Fatalf("New() = %v, want nil so that wazero keeps its default", a)
	}
}

//go:build !linux || !cgo

package rdma

import (
	"errors"
	"testing"
)

func TestVerbsNotSupported(t *testing.T) {
	if _, err := Open("verbs", Options{}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Open(verbs) without cgo or off Linux: %v, want ErrNotSupported", err)
	}
}

//go:build linux && cgo

package rdma

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestVerbsOpen opens the verbs provider wherever the tests run: with an
// RDMA device it must open and close cleanly; without one (a host kernel
// without RDMA, as on CI) it must fail with an *OpError that names the
// call and says what to do.
func TestVerbsOpen(t *testing.T) {
	p, err := Open("verbs", Options{Device: os.Getenv("TALOS_RDMA_DEVICE")})
	if err == nil {
		t.Logf("opened verbs provider on %s", p.Device())
		if p.Device() == "" || p.Name() != "verbs" {
			t.Fatalf("provider name %q device %q", p.Name(), p.Device())
		}
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		return
	}
	var oe *OpError
	if !errors.As(err, &oe) || !errors.Is(err, ErrVerbs) || !strings.Contains(err.Error(), "rdma_get_devices") || oe.Errno == 0 {
		t.Fatalf("Open(verbs) without a device: %v; want an *OpError naming rdma_get_devices with an errno", err)
	}
	t.Logf("no RDMA device here: %v", err)
	// Asking for a device that does not exist names it.
	if _, err := Open("verbs", Options{Device: "no-such-dev9"}); err == nil || !strings.Contains(err.Error(), "no-such-dev9") {
		t.Fatalf("Open(verbs, no-such-dev9): %v, want an error naming the device", err)
	}
}

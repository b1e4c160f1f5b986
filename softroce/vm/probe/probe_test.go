//go:build rxe && linux && cgo

package probe

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestProbe runs in the Soft-RoCE guest, where TALOS_RDMA_DEVICE names the
// rxe device that `talosd softroce up` made on dummy0 (10.9.9.9).
func TestProbe(t *testing.T) {
	dev := os.Getenv("TALOS_RDMA_DEVICE")
	if dev == "" {
		t.Fatal("TALOS_RDMA_DEVICE is not set: this test runs in the Soft-RoCE guest (bash softroce/vm/run.sh)")
	}
	r, err := Probe(dev, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: lkey %#x rkey %#x, port active %v, ethernet %v, mtu %d, %d GIDs, gid0 %s, gid1 %s",
		dev, r.LKey, r.RKey, r.PortActive, r.Ethernet, r.ActiveMTU, r.GIDTableLen, r.GID0, r.GID1)
	if r.RKey == 0 && r.LKey == 0 {
		t.Error("registered region has lkey and rkey 0")
	}
	if !r.PortActive {
		t.Error("port 1 is not ACTIVE")
	}
	if !r.Ethernet {
		t.Error("port 1 link layer is not Ethernet (RoCE)")
	}
	if !r.GID0.IsLinkLocalUnicast() {
		t.Errorf("GID 0 = %s, want the link-local IPv6 GID", r.GID0)
	}
	if want := net.ParseIP("10.9.9.9"); !r.GID1.Equal(want) {
		t.Errorf("GID 1 = %s, want the IPv4-mapped %s", r.GID1, want)
	}
}

// TestProbeMissingDevice checks the error path: a device that does not exist.
func TestProbeMissingDevice(t *testing.T) {
	_, err := Probe("nosuchdev9", 4096)
	if !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("Probe(nosuchdev9) = %v, want ENODEV", err)
	}
}

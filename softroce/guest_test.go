//go:build rxe && linux

package softroce

// These tests run inside the Soft-RoCE VM guest (softroce/vm/suite.txt),
// where the kernel has rdma_rxe, the process is root, and `talosd softroce
// up` has already made rxe0 on dummy0 (10.9.9.9). They change the guest's
// RDMA devices for real, so they are built only with the rxe tag.

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/Mellanox/rdmamap"
	"github.com/vishvananda/netlink"
)

// guestDevice is the device the harness made before these tests run.
func guestDevice(t *testing.T) string {
	t.Helper()
	name := os.Getenv("TALOS_RDMA_DEVICE")
	if name == "" {
		t.Fatal("TALOS_RDMA_DEVICE is not set: these tests run in the Soft-RoCE guest (bash softroce/vm/run.sh)")
	}
	return name
}

func TestGuestStatus(t *testing.T) {
	name := guestDevice(t)
	s, err := CurrentStatus()
	if err != nil {
		t.Fatal(err)
	}
	if !s.RDMA || s.Module != ModuleLoaded {
		t.Fatalf("Status: RDMA %v, module %v; want true, loaded", s.RDMA, s.Module)
	}
	d, ok := s.Device(name)
	if !ok {
		t.Fatalf("Status does not list %s: %+v", name, s.Devices)
	}
	if len(d.Ports) != 1 || d.Ports[0].State != "ACTIVE" || d.Ports[0].LinkLayer != "Ethernet" || d.Ports[0].Netdev != "dummy0" {
		t.Fatalf("%s ports = %+v; want one ACTIVE Ethernet port on dummy0", name, d.Ports)
	}
	uverbs := false
	for _, c := range d.CharDevices {
		uverbs = uverbs || strings.HasPrefix(c, "/dev/infiniband/uverbs")
	}
	if !uverbs {
		t.Fatalf("%s has no /dev/infiniband/uverbsN: %v", name, d.CharDevices)
	}
	if got, err := rdmamap.GetRdmaDeviceForNetdevice("dummy0"); err != nil || got != name {
		t.Fatalf("rdmamap: dummy0 -> %q, %v; want %s", got, err, name)
	}
}

// TestGuestUpDown makes a second dummy device and runs Up, the idempotent
// Up, the conflicting Ups, Status and Down against the guest's kernel.
func TestGuestUpDown(t *testing.T) {
	existing := guestDevice(t)
	const netdev, name = "srtest0", "rxetest0"
	if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: netdev}}); err != nil {
		t.Fatalf("adding dummy %s: %v", netdev, err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(netdev); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				t.Errorf("deleting %s: %v", netdev, err)
			}
		}
	})
	l, err := netlink.LinkByName(netdev)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}

	h, err := NewHost(Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.Up(netdev, name)
	if err != nil {
		t.Fatalf("Up(%s, %s): %v", netdev, name, err)
	}
	if d.Name != name || len(d.Netdevs()) != 1 || d.Netdevs()[0] != netdev {
		t.Fatalf("Up returned %+v", d)
	}
	again, err := h.Up(netdev, name)
	if err != nil || again.Index != d.Index {
		t.Fatalf("second Up(%s, %s) = %+v, %v; want the same device, no error", netdev, name, again, err)
	}
	if _, err := h.Up(netdev, "rxetest1"); !errors.Is(err, ErrExists) {
		t.Fatalf("Up of a second device on %s = %v, want ErrExists", netdev, err)
	}
	if _, err := h.Up("dummy0", name); !errors.Is(err, ErrExists) {
		t.Fatalf("Up(dummy0, %s) while dummy0 carries %s = %v, want ErrExists", name, existing, err)
	}
	if _, err := h.Up(netdev, existing); !errors.Is(err, ErrExists) {
		t.Fatalf("Up(%s, %s), a name taken on dummy0, = %v, want ErrExists", netdev, existing, err)
	}
	s, err := h.Status()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Device(name); !ok {
		t.Fatalf("Status after Up does not list %s", name)
	}
	unpriv, err := NewHost(Options{Privileged: func() (bool, error) { return false, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := unpriv.Down(name); !errors.Is(err, ErrNotRoot) {
		t.Fatalf("unprivileged Down = %v, want ErrNotRoot", err)
	}
	if err := h.Down(name); err != nil {
		t.Fatalf("Down(%s): %v", name, err)
	}
	if err := h.Down(name); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("second Down(%s) = %v, want ErrNoDevice", name, err)
	}
	s, err = h.Status()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Device(name); ok {
		t.Fatalf("Status after Down still lists %s", name)
	}
	if _, ok := s.Device(existing); !ok {
		t.Fatalf("Down(%s) took %s with it", name, existing)
	}
}

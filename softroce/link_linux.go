//go:build linux

package softroce

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/Mellanox/rdmamap"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// supported says whether this build can manage RDMA links.
const supported = true

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Up creates the Soft-RoCE device name on the network device netdev (like
// `rdma link add NAME type rxe netdev NETDEV`), loading rdma_rxe and its
// helper modules first if they are installed but not loaded. An empty name
// means DefaultName. If name already exists on netdev, Up succeeds and
// changes nothing. It returns the device as Status would show it.
//
// Errors, checked in this order: ErrInvalidName; ErrNoNetdev if netdev does
// not exist; ErrNoModule if rdma_rxe cannot be had; ErrNotRoot without
// privilege; ErrExists if name is taken on another network device or netdev
// already carries another rxe device.
func (h *Host) Up(netdev, name string) (Device, error) {
	if name == "" {
		name = DefaultName
	}
	if err := validateName(name); err != nil {
		return Device{}, err
	}
	if netdev == "" {
		return Device{}, fmt.Errorf("%w: no network device named", ErrNoNetdev)
	}
	if _, err := netlink.LinkByName(netdev); err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return Device{}, fmt.Errorf("%w: %s", ErrNoNetdev, netdev)
		}
		return Device{}, fmt.Errorf("softroce: looking up network device %s: %w", netdev, err)
	}
	if err := h.ensureModules(); err != nil {
		return Device{}, err
	}
	links, err := netlink.RdmaLinkList()
	if err != nil {
		return Device{}, h.linkErr("listing RDMA devices", err)
	}
	for _, l := range links {
		d := h.device(l)
		on := d.Netdevs()
		switch {
		case l.Attrs.Name == name && contains(on, netdev):
			return d, nil
		case l.Attrs.Name == name:
			return Device{}, fmt.Errorf("%w: %s is on %s, not on %s", ErrExists, name, strings.Join(on, ","), netdev)
		case contains(on, netdev):
			return Device{}, fmt.Errorf("%w: %s already carries RDMA device %s", ErrExists, netdev, l.Attrs.Name)
		}
	}
	if err := netlink.RdmaLinkAdd(name, "rxe", netdev); err != nil {
		return Device{}, h.linkErr(fmt.Sprintf("rdma link add %s type rxe netdev %s", name, netdev), err)
	}
	l, err := h.findLink(name)
	if err != nil {
		return Device{}, err
	}
	d := h.device(l)
	// rdmamap resolves netdev -> RDMA device through the GID table; check
	// that the kernel bound the new device where it was asked to.
	if got, err := rdmamap.GetRdmaDeviceForNetdevice(netdev); err == nil && got != name {
		return d, fmt.Errorf("softroce: after adding %s, %s maps to RDMA device %q", name, netdev, got)
	}
	return d, nil
}

// Down deletes the RDMA device name (like `rdma link delete NAME`). An empty
// name means DefaultName. Errors: ErrInvalidName; ErrNoDevice if it does not
// exist; ErrNotRoot without privilege.
func (h *Host) Down(name string) error {
	if name == "" {
		name = DefaultName
	}
	if err := validateName(name); err != nil {
		return err
	}
	if _, err := h.findLink(name); err != nil {
		return err
	}
	if err := h.checkPrivileged(); err != nil {
		return err
	}
	if err := netlink.RdmaLinkDel(name); err != nil {
		return h.linkErr("rdma link delete "+name, err)
	}
	return nil
}

// Status reports the rdma_rxe module state and every RDMA device with its
// ports and counters. A kernel without RDMA support is reported in the
// Status (RDMA false), not as an error.
func (h *Host) Status() (Status, error) {
	s := Status{Devices: []Device{}}
	var err error
	if s.Module, err = h.ModuleState(); err != nil {
		return s, err
	}
	links, err := netlink.RdmaLinkList()
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return s, nil
	}
	if err != nil {
		return s, h.linkErr("listing RDMA devices", err)
	}
	s.RDMA = true

	for _, l := range links {
		s.Devices = append(s.Devices, h.device(l))
	}
	sort.Slice(s.Devices, func(i, j int) bool { return s.Devices[i].Index < s.Devices[j].Index })
	return s, nil
}

// findLink returns the RDMA link called name, or ErrNoDevice.
func (h *Host) findLink(name string) (*netlink.RdmaLink, error) {
	links, err := netlink.RdmaLinkList()
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return nil, fmt.Errorf("%w: %s (the running kernel has no RDMA support)", ErrNoDevice, name)
	}
	if err != nil {
		return nil, h.linkErr("listing RDMA devices", err)
	}
	for _, l := range links {
		if l.Attrs.Name == name {
			return l, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNoDevice, name)
}

// linkErr maps an error from the RDMA netlink family to this package's
// sentinels where one fits, naming the operation either way.
func (h *Host) linkErr(op string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %s: %v", ErrNotRoot, op, err)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w: %s: %v", ErrExists, op, err)
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %s: %v", ErrNoNetdev, op, err)
	case errors.Is(err, unix.EPROTONOSUPPORT):
		return fmt.Errorf("%w: %s: the running kernel has no RDMA support: %v", ErrNoModule, op, err)
	}
	return fmt.Errorf("softroce: %s: %w", op, err)
}

// device describes link l from sysfs (under Options.Root) and rdmamap.
func (h *Host) device(l *netlink.RdmaLink) Device {
	d := Device{
		Name:            l.Attrs.Name,
		Index:           l.Attrs.Index,
		NodeGUID:        l.Attrs.NodeGuid,
		FirmwareVersion: l.Attrs.FirmwareVersion,
		NumPorts:        l.Attrs.NumPorts,
		CharDevices:     rdmamap.GetRdmaCharDevices(l.Attrs.Name),
	}
	sort.Strings(d.CharDevices)
	ib := filepath.Join(h.opts.Root, "sys/class/infiniband", d.Name)
	// netlink's GUID string reverses the bytes on little-endian machines;
	// sysfs has the form ibv_devinfo prints.
	if g := readAttr(ib, "node_guid"); g != "" {
		d.NodeGUID = g
	}
	dir := filepath.Join(ib, "ports")
	for n := 1; n <= int(d.NumPorts); n++ {
		pd := filepath.Join(dir, strconv.Itoa(n))
		p := Port{
			Port:      n,
			State:     stateName(readAttr(pd, "state")),
			PhysState: stateName(readAttr(pd, "phys_state")),
			LinkLayer: readAttr(pd, "link_layer"),
			Netdev:    readAttr(pd, "gid_attrs/ndevs/0"),
		}
		if st, err := rdmamap.GetRdmaSysfsAllStats(d.Name, n); err == nil {
			p.Counters = statMap(st.Stats)
			p.HwCounters = statMap(st.HwStats)
		}
		d.Ports = append(d.Ports, p)
	}
	return d
}

// readAttr reads one sysfs attribute; unreadable attributes (an empty GID
// table slot answers EINVAL) read as "".
func readAttr(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// stateName turns sysfs's "4: ACTIVE" into "ACTIVE".
func stateName(s string) string {
	if _, after, ok := strings.Cut(s, ": "); ok {
		return after
	}
	return s
}

func statMap(entries []rdmamap.RdmaStatEntry) map[string]uint64 {
	if len(entries) == 0 {
		return nil
	}
	m := make(map[string]uint64, len(entries))
	for _, e := range entries {
		// lifespan is a setting (how long, in ms, counter reads are
		// cached), not a counter.
		if e.Name != "lifespan" {
			m[e.Name] = e.Value
		}
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

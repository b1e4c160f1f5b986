package softroce

import (
	"fmt"
	"strings"
)

// DefaultName is the RDMA device name Up uses when none is given.
const DefaultName = "rxe0"

// rxeModule is the kernel module that implements Soft-RoCE.
const rxeModule = "rdma_rxe"

// helperModules are loaded by Up when they are installed but not loaded:
// ib_uverbs gives user space /dev/infiniband/uverbsN, rdma_ucm gives it
// /dev/infiniband/rdma_cm, and crc32_generic is the ICRC algorithm rdma_rxe
// asks for (without it `rdma link add` fails with "failed to init crc32
// algorithm err:-2" where the kernel cannot load it on demand).
var helperModules = []string{"crc32_generic", "ib_uverbs", "rdma_ucm"}

// Host manages the Soft-RoCE devices of one Linux host. Its methods may be
// called concurrently; the kernel serialises the changes themselves.
type Host struct {
	opts Options
}

// NewHost returns a Host for opts (zero fields take their defaults). Off
// Linux it returns ErrNotSupported.
func NewHost(opts Options) (*Host, error) {
	if !supported {
		return nil, ErrNotSupported
	}
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Host{opts: opts}, nil
}

// Status is what Host.Status reports.
type Status struct {
	// Module is the state of the rdma_rxe kernel module.
	Module ModuleState `json:"module"`
	// RDMA is false when the running kernel has no RDMA subsystem at all
	// (its RDMA netlink family does not exist).
	RDMA bool `json:"rdma"`
	// Devices lists every RDMA device, Soft-RoCE or not, by kernel index.
	Devices []Device `json:"devices"`
}

// Device describes one RDMA device.
type Device struct {
	Name            string   `json:"name"`
	Index           uint32   `json:"index"`
	NodeGUID        string   `json:"node_guid"`
	FirmwareVersion string   `json:"firmware_version,omitempty"`
	NumPorts        uint32   `json:"num_ports"`
	CharDevices     []string `json:"char_devices"`
	Ports           []Port   `json:"ports"`
}

// Port describes one port of an RDMA device, as sysfs shows it.
type Port struct {
	Port int `json:"port"`
	// State is the logical state, for example "ACTIVE" or "DOWN".
	State string `json:"state"`
	// PhysState is the physical state, for example "LINK_UP".
	PhysState string `json:"phys_state"`
	// LinkLayer is "Ethernet" for RoCE (and so for rxe) or "InfiniBand".
	LinkLayer string `json:"link_layer"`
	// Netdev is the network device the port's first GID belongs to; empty
	// for InfiniBand ports.
	Netdev string `json:"netdev,omitempty"`
	// Counters and HwCounters are the port's counters/ and hw_counters/.
	Counters   map[string]uint64 `json:"counters,omitempty"`
	HwCounters map[string]uint64 `json:"hw_counters,omitempty"`
}

// Device returns the device named name from s.
func (s Status) Device(name string) (Device, bool) {
	for _, d := range s.Devices {
		if d.Name == name {
			return d, true
		}
	}
	return Device{}, false
}

// Netdevs returns the network devices the device's ports are bound to.
func (d Device) Netdevs() []string {
	var out []string
	for _, p := range d.Ports {
		if p.Netdev != "" {
			out = append(out, p.Netdev)
		}
	}
	return out
}

// validateName checks an RDMA device name the way the kernel will: not
// empty, shorter than IB_DEVICE_NAME_MAX (64), no '/', no whitespace, and no
// '%' (the kernel would treat it as a numbering pattern).
func validateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) >= 64:
		return fmt.Errorf("%w: %q is %d bytes, the kernel allows at most 63", ErrInvalidName, name, len(name))
	case strings.ContainsAny(name, "/% \t\n\r"):
		return fmt.Errorf("%w: %q contains '/', '%%' or whitespace", ErrInvalidName, name)
	}
	return nil
}

// ModuleState reports the state of the rdma_rxe module on this host.
func (h *Host) ModuleState() (ModuleState, error) {
	return moduleState(h.opts.Root, h.opts.KernelRelease, rxeModule)
}

// ensureModules checks that rdma_rxe can be used, checks privilege, and
// loads rdma_rxe and the installed helper modules that are not loaded yet.
// Module availability is checked before privilege: running as root would
// not fix a missing module.
func (h *Host) ensureModules() error {
	st, err := h.ModuleState()
	if err != nil {
		return err
	}
	if !st.Usable() {
		return fmt.Errorf("%w: not loaded, not built in, and not listed in %s/lib/modules/%s/modules.dep "+
			"(install the kernel's extra modules package, e.g. linux-modules-extra-%s on Ubuntu)",
			ErrNoModule, strings.TrimSuffix(h.opts.Root, "/"), h.opts.KernelRelease, h.opts.KernelRelease)
	}
	if err := h.checkPrivileged(); err != nil {
		return err
	}
	for _, m := range append([]string{rxeModule}, helperModules...) {
		st, err := moduleState(h.opts.Root, h.opts.KernelRelease, m)
		if err != nil {
			return err
		}
		if st != ModuleLoadable {
			continue
		}
		if err := h.opts.LoadModule(m); err != nil {
			return fmt.Errorf("softroce: loading module %s: %w", m, err)
		}
	}
	return nil
}

func (h *Host) checkPrivileged() error {
	ok, err := h.opts.Privileged()
	if err != nil {
		return fmt.Errorf("softroce: checking privilege: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w: adding and deleting RDMA links needs CAP_NET_ADMIN and CAP_SYS_MODULE (run as root)", ErrNotRoot)
	}
	return nil
}

package softroce

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Options configures a Host. The zero value means the live system.
type Options struct {
	// Root is the directory under which proc/, sys/ and lib/modules/ are read
	// for module detection, the privilege check and port attributes. Zero
	// means "/". The netlink calls and the rdmamap look-ups always see the
	// live system whatever Root says.
	Root string

	// KernelRelease names the directory lib/modules/<release> searched for
	// the rdma_rxe module. Zero means the running kernel's release (uname -r).
	KernelRelease string

	// Privileged reports whether the process may add and delete RDMA links
	// and load kernel modules. Zero means checking CAP_NET_ADMIN and
	// CAP_SYS_MODULE in the effective capability set read from
	// <Root>/proc/self/status.
	Privileged func() (bool, error)

	// LoadModule loads the kernel module name and its dependencies. Zero
	// means running modprobe (found in PATH, /usr/sbin or /sbin).
	LoadModule func(name string) error
}

// EnsureDefaults fills in every zero field with its default.
func (o *Options) EnsureDefaults() {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.KernelRelease == "" {
		o.KernelRelease = kernelRelease()
	}
	if o.Privileged == nil {
		root := o.Root
		o.Privileged = func() (bool, error) { return capabilityCheck(root) }
	}
	if o.LoadModule == nil {
		o.LoadModule = modprobe
	}
}

// Validate reports every problem with o, after EnsureDefaults.
func (o *Options) Validate() error {
	var errs []error
	if !filepath.IsAbs(o.Root) {
		errs = append(errs, fmt.Errorf("softroce: Options.Root %q is not an absolute path", o.Root))
	}
	if o.KernelRelease == "" {
		errs = append(errs, errors.New("softroce: Options.KernelRelease is empty and the running kernel's release is unknown"))
	} else if filepath.Base(o.KernelRelease) != o.KernelRelease {
		errs = append(errs, fmt.Errorf("softroce: Options.KernelRelease %q contains a path separator", o.KernelRelease))
	}
	return errors.Join(errs...)
}

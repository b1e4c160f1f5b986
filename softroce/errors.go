package softroce

import "errors"

// Sentinel errors. Every error returned by this package that has one of these
// causes wraps it with %w, so callers match with errors.Is.
var (
	// ErrNotRoot means the process lacks the privilege to add or delete RDMA
	// links (CAP_NET_ADMIN) or to load kernel modules (CAP_SYS_MODULE).
	ErrNotRoot = errors.New("softroce: not root")

	// ErrNoModule means the rdma_rxe kernel module is neither loaded, nor
	// built into the kernel, nor installed for the running kernel.
	ErrNoModule = errors.New("softroce: rdma_rxe kernel module not available")

	// ErrNoNetdev means the network device named for Up does not exist.
	ErrNoNetdev = errors.New("softroce: network device does not exist")

	// ErrNoDevice means the RDMA device named for Down does not exist.
	ErrNoDevice = errors.New("softroce: RDMA device does not exist")

	// ErrExists means the RDMA device name is taken by a device on another
	// network device, or the network device already carries another rxe
	// device.
	ErrExists = errors.New("softroce: RDMA device already exists")

	// ErrInvalidName means a device name is empty, too long or contains a
	// character the kernel refuses.
	ErrInvalidName = errors.New("softroce: invalid device name")

	// ErrNotSupported means this build (not Linux) cannot manage RDMA links.
	ErrNotSupported = errors.New("softroce: not supported on this platform")
)

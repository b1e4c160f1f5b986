//go:build !linux

package softroce

// supported says whether this build can manage RDMA links.
const supported = false

func kernelRelease() string { return "" }

// Up is not supported off Linux; it returns ErrNotSupported.
func (h *Host) Up(netdev, name string) (Device, error) { return Device{}, ErrNotSupported }

// Down is not supported off Linux; it returns ErrNotSupported.
func (h *Host) Down(name string) error { return ErrNotSupported }

// Status is not supported off Linux; it returns ErrNotSupported.
func (h *Host) Status() (Status, error) { return Status{}, ErrNotSupported }

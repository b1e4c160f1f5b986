package softroce

// Up creates Soft-RoCE device name on netdev on the live system; see Host.Up.
func Up(netdev, name string) (Device, error) {
	h, err := NewHost(Options{})
	if err != nil {
		return Device{}, err
	}
	return h.Up(netdev, name)
}

// Down deletes RDMA device name on the live system; see Host.Down.
func Down(name string) error {
	h, err := NewHost(Options{})
	if err != nil {
		return err
	}
	return h.Down(name)
}

// CurrentStatus reports the live system's RDMA devices; see Host.Status.
func CurrentStatus() (Status, error) {
	h, err := NewHost(Options{})
	if err != nil {
		return Status{}, err
	}
	return h.Status()
}

//go:build unix

package kvsep

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mapBuffer returns n zeroed bytes of anonymous memory outside the Go heap,
// page aligned, so that an RDMA NIC can register it.
func mapBuffer(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("kvsep: mmap %d bytes: %w", n, err)
	}
	return b, nil
}

func unmapBuffer(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("kvsep: munmap: %w", err)
	}
	return nil
}

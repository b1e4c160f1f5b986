//go:build unix

package rdma

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func mapRegion(size int) ([]byte, error) {
	buf, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("rdma: mmap of %d bytes: %w", size, err)
	}
	return buf, nil
}

func unmapRegion(buf []byte) error {
	if buf == nil {
		return nil
	}
	if err := unix.Munmap(buf); err != nil {
		return fmt.Errorf("rdma: munmap of %d bytes: %w", len(buf), err)
	}
	return nil
}

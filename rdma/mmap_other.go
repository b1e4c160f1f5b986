//go:build !unix

package rdma

import "fmt"

func mapRegion(size int) ([]byte, error) {
	return nil, fmt.Errorf("%w: mmap regions need a unix system", ErrNotSupported)
}

func unmapRegion(buf []byte) error { return nil }

//go:build !unix

package kvsep

// mapBuffer falls back to the Go heap where mmap is unavailable; such
// buffers cannot be registered for RDMA, which needs unix anyway.
func mapBuffer(n int) ([]byte, error) { return make([]byte, n), nil }

func unmapBuffer([]byte) error { return nil }

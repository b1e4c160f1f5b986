package rdma

import (
	"fmt"
	"sync"
	"unsafe"
)

// Region is registered memory: allocated with mmap, never on the Go heap,
// so its address is stable and the garbage collector never sees it.
//
// Bytes, Addr, RKey, Len and Remote are safe for concurrent use. The bytes
// themselves are not synchronised: a peer's WRITE lands in them at any
// time, and the owner must learn from a completion (its own, or an
// immediate or message from the writer) which bytes are final.
type Region struct {
	buf    []byte
	access Access
	rkey   uint32
	lkey   uint32

	// mu guards closed against a TCP receiver copying into buf while
	// Close unmaps it: receivers hold it shared, Close exclusively.
	mu struct {
		sync.RWMutex
		closed bool
	}
	// release deregisters (provider-specific) and is called once by Close
	// before the memory is unmapped.
	release func() error
	// handle is provider-private (the verbs ibv_mr).
	handle unsafe.Pointer
	// owner is the Provider that registered the region.
	owner Provider
}

// Bytes returns the region's memory. It is invalid after Close.
func (r *Region) Bytes() []byte { return r.buf }

// Len is the region's size in bytes.
func (r *Region) Len() int { return len(r.buf) }

// Addr is the address of the region's first byte.
func (r *Region) Addr() uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(r.buf)))) }

// RKey is the key a peer needs to WRITE into the region.
func (r *Region) RKey() uint32 { return r.rkey }

// Access is what the region was registered for.
func (r *Region) Access() Access { return r.access }

// Remote is the descriptor to hand to a peer.
func (r *Region) Remote() RemoteRegion {
	return RemoteRegion{Addr: r.Addr(), Len: uint32(len(r.buf)), RKey: r.rkey}
}

// Close deregisters and unmaps the region. After it, WRITEs that target
// it fail on the writer with a remote access error. Idempotent.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return nil
	}
	r.mu.closed = true
	var err error
	if r.release != nil {
		err = r.release()
	}
	if uerr := unmapRegion(r.buf); uerr != nil && err == nil {
		err = uerr
	}
	r.buf = nil
	return err
}

// newMappedRegion maps size bytes for a region.
func newMappedRegion(size int, access Access) (*Region, error) {
	if size <= 0 || size > 1<<40 {
		return nil, fmt.Errorf("%w: region size %d outside (0, 1 TiB]", ErrInvalidRequest, size)
	}
	if size > 1<<32-1 && access&AccessRemoteWrite != 0 {
		return nil, fmt.Errorf("%w: remotely writable region of %d bytes exceeds 4 GiB - 1", ErrInvalidRequest, size)
	}
	buf, err := mapRegion(size)
	if err != nil {
		return nil, err
	}
	return &Region{buf: buf, access: access | AccessLocalWrite}, nil
}

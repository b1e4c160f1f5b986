package engine

import (
	"fmt"

	"github.com/talos-kv/talos/kvsep"
)

// Value encoding in the index (the index sees opaque bytes):
const (
	valueInline  = 0x00 // the value follows
	valuePointer = 0x01 // a kvsep.Pointer (16 bytes) follows
)

// encodeInline appends the index form of an inline value.
func encodeInline(dst, v []byte) []byte {
	dst = append(dst, valueInline)
	return append(dst, v...)
}

// encodePointer appends the index form of a value-log pointer.
func encodePointer(dst []byte, p kvsep.Pointer) []byte {
	dst = append(dst, valuePointer)
	return p.Encode(dst)
}

// decodeIndexValue splits an index value into its inline bytes or pointer.
func decodeIndexValue(v []byte) (inline []byte, p kvsep.Pointer, isPtr bool, err error) {
	if len(v) == 0 {
		return nil, p, false, fmt.Errorf("%w: empty index value", ErrCorrupt)
	}
	switch v[0] {
	case valueInline:
		return v[1:], p, false, nil
	case valuePointer:
		p, err := kvsep.DecodePointer(v[1:])
		if err != nil {
			return nil, p, false, fmt.Errorf("%w: index value: %w", ErrCorrupt, err)
		}
		return nil, p, true, nil
	}
	return nil, p, false, fmt.Errorf("%w: index value tag %#x", ErrCorrupt, v[0])
}

// valueRef is index.Options.ValueRef: the segment and record bytes a
// pointer value keeps alive.
func valueRef(v []byte) (uint64, int64, bool) {
	if len(v) != 1+kvsep.PointerLen || v[0] != valuePointer {
		return 0, 0, false
	}
	p, err := kvsep.DecodePointer(v[1:])
	if err != nil {
		return 0, 0, false
	}
	return p.Segment, int64(p.Length), true
}

package engine

import (
	"fmt"

	"github.com/talos-kv/talos/kvsep"
)

// Value encoding in the index (the index sees opaque bytes):
const (
	valueInline  = 0x00 // the value follows
	valuePointer = 0x01 // a kvsep.Pointer (16 bytes) follows
	// valuePointerPrefix: a kvsep.Pointer, then the first
	// min(Options.ValuePrefix, length) bytes of the value (covered by the
	// table's block checksums), so that a compaction filter can judge the
	// value without a value-log read.
	valuePointerPrefix = 0x02

	// MaxValuePrefix bounds Options.ValuePrefix.
	MaxValuePrefix = 64
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

// encodePointerPrefix appends the index form of a value-log pointer with
// the value's first bytes.
func encodePointerPrefix(dst []byte, p kvsep.Pointer, prefix []byte) []byte {
	dst = append(dst, valuePointerPrefix)
	dst = p.Encode(dst)
	return append(dst, prefix...)
}

// decodeIndexValue splits an index value into its inline bytes or pointer.
func decodeIndexValue(v []byte) (inline []byte, p kvsep.Pointer, isPtr bool, err error) {
	inline, p, _, isPtr, err = decodeIndexValuePrefix(v)
	return inline, p, isPtr, err
}

// decodeIndexValuePrefix is decodeIndexValue that also returns the value
// prefix a pointer entry carries (nil for entries without one).
func decodeIndexValuePrefix(v []byte) (inline []byte, p kvsep.Pointer, prefix []byte, isPtr bool, err error) {
	if len(v) == 0 {
		return nil, p, nil, false, fmt.Errorf("%w: empty index value", ErrCorrupt)
	}
	switch v[0] {
	case valueInline:
		return v[1:], p, nil, false, nil
	case valuePointer, valuePointerPrefix:
		if len(v) < 1+kvsep.PointerLen || v[0] == valuePointer && len(v) != 1+kvsep.PointerLen ||
			v[0] == valuePointerPrefix && len(v) > 1+kvsep.PointerLen+MaxValuePrefix {
			return nil, p, nil, false, fmt.Errorf("%w: index value: pointer entry of %d bytes", ErrCorrupt, len(v))
		}
		p, err := kvsep.DecodePointer(v[1 : 1+kvsep.PointerLen])
		if err != nil {
			return nil, p, nil, false, fmt.Errorf("%w: index value: %w", ErrCorrupt, err)
		}
		if v[0] == valuePointerPrefix {
			prefix = v[1+kvsep.PointerLen:]
			if uint64(len(prefix)) > uint64(p.Length) {
				return nil, p, nil, false, fmt.Errorf("%w: index value: %d-byte prefix of a %d-byte value", ErrCorrupt, len(prefix), p.Length)
			}
		}
		return nil, p, prefix, true, nil
	}
	return nil, p, nil, false, fmt.Errorf("%w: index value tag %#x", ErrCorrupt, v[0])
}

// valueRef is index.Options.ValueRef: the segment and record bytes a
// pointer value keeps alive.
func valueRef(v []byte) (uint64, int64, bool) {
	_, p, isPtr, err := decodeIndexValue(v)
	if err != nil || !isPtr {
		return 0, 0, false
	}
	return p.Segment, int64(p.Length), true
}

package kvsep

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

const (
	frameHeaderLen = 24
	frameFlagGC    = 1 << 0
	frameFlagsMask = frameFlagGC
)

// FramePos is where a frame starts.
type FramePos struct {
	Segment uint64
	Offset  uint32
}

// Frame is one decoded write batch.
type Frame struct {
	Pos      FramePos
	Len      int // encoded length, header included
	FirstSeq uint64
	GC       bool
	Records  []Record // Key/Value alias the decoded buffer
	Pointers []Pointer
}

// End returns the position just after the frame.
func (f *Frame) End() Pos {
	return Pos{Segment: f.Pos.Segment, Offset: uint64(f.Pos.Offset) + uint64(f.Len)}
}

// DecodeFrame decodes the frame at b[off:] of segment seg, verifying the frame
// checksum and every record checksum. At zero padding (or fewer bytes left
// than a frame header) it returns ok=false and a nil error. Records and their
// keys/values alias b; f's slices are reused.
func DecodeFrame(b []byte, seg uint64, off int, f *Frame) (ok bool, err error) {
	if off < 0 || off > len(b) {
		return false, fmt.Errorf("%w: frame offset %d outside %d bytes", ErrCorrupt, off, len(b))
	}
	rest := b[off:]
	if len(rest) < frameHeaderLen || isZero(rest[:frameHeaderLen]) {
		return false, nil
	}
	crc := binary.LittleEndian.Uint32(rest)
	bodyLen := binary.LittleEndian.Uint32(rest[4:])
	count := binary.LittleEndian.Uint32(rest[8:])
	flags := binary.LittleEndian.Uint32(rest[12:])
	seq := binary.LittleEndian.Uint64(rest[16:])
	where := func() string { return fmt.Sprintf("segment %06d offset %d", seg, off) }
	if flags&^frameFlagsMask != 0 {
		return false, fmt.Errorf("%w: %s: frame flags %#x", ErrCorrupt, where(), flags)
	}
	if count == 0 || uint64(bodyLen) < uint64(count)*recordHeaderLen || uint64(bodyLen) > uint64(len(rest)-frameHeaderLen) {
		return false, fmt.Errorf("%w: %s: frame of %d records in %d bytes (%d available)",
			ErrCorrupt, where(), count, bodyLen, len(rest)-frameHeaderLen)
	}
	n := frameHeaderLen + int(bodyLen)
	if got := crc32.Checksum(rest[4:n], castagnoli); got != crc {
		return false, fmt.Errorf("%w: %s: frame checksum %08x, want %08x", ErrCorrupt, where(), got, crc)
	}
	f.Pos = FramePos{Segment: seg, Offset: uint32(off)}
	f.Len = n
	f.FirstSeq = seq
	f.GC = flags&frameFlagGC != 0
	f.Records = f.Records[:0]
	f.Pointers = f.Pointers[:0]
	body := rest[frameHeaderLen:n]
	p := 0
	for i := uint32(0); i < count; i++ {
		r, rn, err := DecodeRecord(body[p:])
		if err != nil {
			return false, fmt.Errorf("%s: record %d: %w", where(), i, err)
		}
		if r.Seq != seq+uint64(i) {
			return false, fmt.Errorf("%w: %s: record %d has seq %d, want %d", ErrCorrupt, where(), i, r.Seq, seq+uint64(i))
		}
		f.Records = append(f.Records, r)
		f.Pointers = append(f.Pointers, Pointer{Segment: seg, Offset: uint32(off + frameHeaderLen + p), Length: uint32(rn)})
		p += rn
	}
	if p != len(body) {
		return false, fmt.Errorf("%w: %s: %d trailing bytes in frame", ErrCorrupt, where(), len(body)-p)
	}
	return true, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

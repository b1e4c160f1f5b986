package kvsep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// ErrCorrupt reports value-log bytes that fail their checks. It is wrapped
// with the segment, offset and what was wrong.
var ErrCorrupt = errors.New("kvsep: corruption")

// Kind is a record's kind; the numbers match index.Kind.
type Kind uint8

// Record kinds.
const (
	KindDelete Kind = 0
	KindSet    Kind = 1
)

const (
	recordHeaderLen = 21 // crc, seq, kind, keyLen, valLen
	// MaxKeyLen and MaxValueLen bound a record's key and value.
	MaxKeyLen   = 1 << 16
	MaxValueLen = 1 << 28
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PointerLen is the length of an encoded Pointer.
const PointerLen = 16

// Pointer addresses one record in the value log.
type Pointer struct {
	Segment uint64
	Offset  uint32 // start of the record in its segment
	Length  uint32 // whole record length
}

// Encode appends the fixed 16-byte encoding of p to dst.
func (p Pointer) Encode(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, p.Segment)
	dst = binary.LittleEndian.AppendUint32(dst, p.Offset)
	return binary.LittleEndian.AppendUint32(dst, p.Length)
}

// DecodePointer parses an encoded Pointer; b must be exactly PointerLen bytes.
func DecodePointer(b []byte) (Pointer, error) {
	if len(b) != PointerLen {
		return Pointer{}, fmt.Errorf("%w: pointer of %d bytes, want %d", ErrCorrupt, len(b), PointerLen)
	}
	p := Pointer{
		Segment: binary.LittleEndian.Uint64(b),
		Offset:  binary.LittleEndian.Uint32(b[8:]),
		Length:  binary.LittleEndian.Uint32(b[12:]),
	}
	if p.Length < recordHeaderLen {
		return Pointer{}, fmt.Errorf("%w: pointer length %d shorter than a record header", ErrCorrupt, p.Length)
	}
	return p, nil
}

func (p Pointer) String() string {
	return fmt.Sprintf("%06d.vlog@%d+%d", p.Segment, p.Offset, p.Length)
}

// Record is one decoded record. Key and Value alias the decoded buffer.
type Record struct {
	Seq   uint64
	Kind  Kind
	Key   []byte
	Value []byte
}

// RecordLen returns the encoded length of a record with this key and value.
func RecordLen(keyLen, valueLen int) int { return recordHeaderLen + keyLen + valueLen }

// DecodeRecord decodes the record at the start of b, verifying its checksum.
// It returns the record and its encoded length.
func DecodeRecord(b []byte) (Record, int, error) {
	if len(b) < recordHeaderLen {
		return Record{}, 0, fmt.Errorf("%w: record header truncated (%d bytes)", ErrCorrupt, len(b))
	}
	kind := Kind(b[12])
	kl := binary.LittleEndian.Uint32(b[13:])
	vl := binary.LittleEndian.Uint32(b[17:])
	if kind != KindSet && kind != KindDelete {
		return Record{}, 0, fmt.Errorf("%w: record kind %d", ErrCorrupt, kind)
	}
	if kl > MaxKeyLen || vl > MaxValueLen {
		return Record{}, 0, fmt.Errorf("%w: record key length %d, value length %d", ErrCorrupt, kl, vl)
	}
	n := recordHeaderLen + int(kl) + int(vl)
	if n > len(b) {
		return Record{}, 0, fmt.Errorf("%w: record of %d bytes, only %d present", ErrCorrupt, n, len(b))
	}
	want := binary.LittleEndian.Uint32(b)
	if got := crc32.Checksum(b[4:n], castagnoli); got != want {
		return Record{}, 0, fmt.Errorf("%w: record checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	r := Record{
		Seq:   binary.LittleEndian.Uint64(b[4:]),
		Kind:  kind,
		Key:   b[recordHeaderLen : recordHeaderLen+kl : recordHeaderLen+kl],
		Value: b[recordHeaderLen+kl : n : n],
	}
	return r, n, nil
}

// Records accumulates the records of one write batch in their encoded form,
// with sequence numbers and checksums filled in when the batch is appended.
// The zero value is empty and ready to use. Not safe for concurrent use.
type Records struct {
	buf  []byte
	offs []uint32 // start of each record in buf
	gc   bool
}

// Add appends a record. It panics if key or value exceed MaxKeyLen/MaxValueLen.
func (r *Records) Add(kind Kind, key, value []byte) {
	if len(key) > MaxKeyLen || len(value) > MaxValueLen {
		panic(fmt.Sprintf("kvsep: record key %d / value %d bytes exceeds the limits %d / %d",
			len(key), len(value), MaxKeyLen, MaxValueLen))
	}
	r.offs = append(r.offs, uint32(len(r.buf)))
	var h [recordHeaderLen]byte
	h[12] = byte(kind)
	binary.LittleEndian.PutUint32(h[13:], uint32(len(key)))
	binary.LittleEndian.PutUint32(h[17:], uint32(len(value)))
	r.buf = append(r.buf, h[:]...)
	r.buf = append(r.buf, key...)
	r.buf = append(r.buf, value...)
}

// SetGC marks these records as written by value-log GC (I/O attribution).
func (r *Records) SetGC(gc bool) { r.gc = gc }

// Count returns the number of records.
func (r *Records) Count() int { return len(r.offs) }

// Len returns the encoded length of the records (without the frame header).
func (r *Records) Len() int { return len(r.buf) }

// FrameLen returns the encoded length of the frame these records make.
func (r *Records) FrameLen() int { return frameHeaderLen + len(r.buf) }

// Reset empties r, keeping its memory.
func (r *Records) Reset() {
	r.buf = r.buf[:0]
	r.offs = r.offs[:0]
	r.gc = false
}

// At returns record i as added (Seq is zero until appended).
func (r *Records) At(i int) (kind Kind, key, value []byte) {
	b := r.buf[r.offs[i]:]
	kl := binary.LittleEndian.Uint32(b[13:])
	vl := binary.LittleEndian.Uint32(b[17:])
	return Kind(b[12]), b[recordHeaderLen : recordHeaderLen+kl], b[recordHeaderLen+kl : recordHeaderLen+kl+vl]
}

// Pointer returns the pointer of record i once the frame is placed at pos.
func (r *Records) Pointer(pos FramePos, i int) Pointer {
	end := uint32(len(r.buf))
	if i+1 < len(r.offs) {
		end = r.offs[i+1]
	}
	return Pointer{
		Segment: pos.Segment,
		Offset:  pos.Offset + frameHeaderLen + r.offs[i],
		Length:  end - r.offs[i],
	}
}

// encodeFrame writes the frame of r with first sequence number seq into dst,
// which must be exactly r.FrameLen() bytes.
func (r *Records) encodeFrame(dst []byte, seq uint64) {
	if len(r.buf) > math.MaxUint32 {
		panic("kvsep: frame too large")
	}
	body := dst[frameHeaderLen:]
	copy(body, r.buf)
	for i, off := range r.offs {
		end := len(r.buf)
		if i+1 < len(r.offs) {
			end = int(r.offs[i+1])
		}
		rec := body[off:end]
		binary.LittleEndian.PutUint64(rec[4:], seq+uint64(i))
		binary.LittleEndian.PutUint32(rec, crc32.Checksum(rec[4:], castagnoli))
	}
	var flags uint32
	if r.gc {
		flags |= frameFlagGC
	}
	binary.LittleEndian.PutUint32(dst[4:], uint32(len(r.buf)))
	binary.LittleEndian.PutUint32(dst[8:], uint32(len(r.offs)))
	binary.LittleEndian.PutUint32(dst[12:], flags)
	binary.LittleEndian.PutUint64(dst[16:], seq)
	binary.LittleEndian.PutUint32(dst, crc32.Checksum(dst[4:], castagnoli))
}

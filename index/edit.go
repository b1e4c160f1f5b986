package index

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

// TableMeta describes one table file.
type TableMeta struct {
	Num                     uint64
	Size                    uint64
	Smallest, Largest       []byte // user keys
	SmallestSeq, LargestSeq uint64
	Entries                 uint64
	Checksum                uint32 // crc32c (Castagnoli) of the whole file
}

// NewTable is a table added to a level by an edit.
type NewTable struct {
	Level int
	Meta  TableMeta
}

// DeletedTable is a table removed from a level by an edit.
type DeletedTable struct {
	Level int
	Num   uint64
}

// VersionEdit is one manifest record: the change from one version of the
// tree to the next. Its encoding is drawn in doc.go.
type VersionEdit struct {
	Added           []NewTable
	Deleted         []DeletedTable
	NextFileNum     uint64           // 0: unchanged
	LastSeq         uint64           // 0: unchanged
	Checkpoint      *LogPos          // value log is replayed from here at open; nil: unchanged
	SegmentLive     map[uint64]int64 // deltas of live bytes per value-log segment
	DeletedSegments []uint64         // value-log segments removed (GC); their live entry is dropped
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Edit field tags.
const (
	tagAdded          = 1
	tagDeleted        = 2
	tagNextFileNum    = 3
	tagLastSeq        = 4
	tagCheckpoint     = 5
	tagSegmentLive    = 6
	tagDeletedSegment = 7
)

// maxKeyLen bounds a key in an edit so a corrupt length cannot allocate wildly.
const maxKeyLen = 1 << 20

// Encode returns the checksummed encoding of e. The encoding is canonical:
// SegmentLive is written in segment order.
func (e *VersionEdit) Encode() []byte {
	b := make([]byte, 4, 64)
	for _, a := range e.Added {
		b = binary.AppendUvarint(b, tagAdded)
		b = binary.AppendUvarint(b, uint64(a.Level))
		m := &a.Meta
		b = binary.AppendUvarint(b, m.Num)
		b = binary.AppendUvarint(b, m.Size)
		b = binary.AppendUvarint(b, uint64(len(m.Smallest)))
		b = append(b, m.Smallest...)
		b = binary.AppendUvarint(b, uint64(len(m.Largest)))
		b = append(b, m.Largest...)
		b = binary.AppendUvarint(b, m.SmallestSeq)
		b = binary.AppendUvarint(b, m.LargestSeq)
		b = binary.AppendUvarint(b, m.Entries)
		b = binary.LittleEndian.AppendUint32(b, m.Checksum)
	}
	for _, d := range e.Deleted {
		b = binary.AppendUvarint(b, tagDeleted)
		b = binary.AppendUvarint(b, uint64(d.Level))
		b = binary.AppendUvarint(b, d.Num)
	}
	if e.NextFileNum != 0 {
		b = binary.AppendUvarint(b, tagNextFileNum)
		b = binary.AppendUvarint(b, e.NextFileNum)
	}
	if e.LastSeq != 0 {
		b = binary.AppendUvarint(b, tagLastSeq)
		b = binary.AppendUvarint(b, e.LastSeq)
	}
	if e.Checkpoint != nil {
		b = binary.AppendUvarint(b, tagCheckpoint)
		b = binary.AppendUvarint(b, e.Checkpoint.Segment)
		b = binary.AppendUvarint(b, e.Checkpoint.Offset)
	}
	segs := make([]uint64, 0, len(e.SegmentLive))
	for s := range e.SegmentLive {
		segs = append(segs, s)
	}
	slices.Sort(segs)
	for _, s := range segs {
		b = binary.AppendUvarint(b, tagSegmentLive)
		b = binary.AppendUvarint(b, s)
		b = binary.AppendVarint(b, e.SegmentLive[s])
	}
	for _, s := range e.DeletedSegments {
		b = binary.AppendUvarint(b, tagDeletedSegment)
		b = binary.AppendUvarint(b, s)
	}
	binary.LittleEndian.PutUint32(b[:4], crc32.Checksum(b[4:], castagnoli))
	return b
}

type editDecoder struct {
	b   []byte
	err error
}

func (d *editDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: version edit: %s", ErrCorrupt, what)
	}
}

func (d *editDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *editDecoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *editDecoder) bytes(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > maxKeyLen || n > uint64(len(d.b)) {
		d.fail(what + " length out of range")
		return nil
	}
	v := slices.Clone(d.b[:n])
	if v == nil {
		v = []byte{}
	}
	d.b = d.b[n:]
	return v
}

func (d *editDecoder) level() int {
	l := d.uvarint("level")
	if d.err == nil && l >= maxLevels {
		d.fail(fmt.Sprintf("level %d out of range", l))
	}
	return int(l)
}

// DecodeVersionEdit decodes an encoding made by Encode. Anything malformed,
// including a checksum mismatch, is an error wrapping ErrCorrupt.
func DecodeVersionEdit(b []byte) (*VersionEdit, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: version edit: %d bytes, shorter than its checksum", ErrCorrupt, len(b))
	}
	want := binary.LittleEndian.Uint32(b[:4])
	if got := crc32.Checksum(b[4:], castagnoli); got != want {
		return nil, fmt.Errorf("%w: version edit: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	e := &VersionEdit{}
	d := &editDecoder{b: b[4:]}
	seenNext, seenLast := false, false
	for len(d.b) > 0 && d.err == nil {
		switch tag := d.uvarint("tag"); tag {
		case tagAdded:
			var a NewTable
			a.Level = d.level()
			a.Meta.Num = d.uvarint("table number")
			a.Meta.Size = d.uvarint("table size")
			a.Meta.Smallest = d.bytes("smallest key")
			a.Meta.Largest = d.bytes("largest key")
			a.Meta.SmallestSeq = d.uvarint("smallest seq")
			a.Meta.LargestSeq = d.uvarint("largest seq")
			a.Meta.Entries = d.uvarint("entries")
			if d.err == nil && len(d.b) < 4 {
				d.fail("truncated table checksum")
			}
			if d.err == nil {
				a.Meta.Checksum = binary.LittleEndian.Uint32(d.b)
				d.b = d.b[4:]
				e.Added = append(e.Added, a)
			}
		case tagDeleted:
			var x DeletedTable
			x.Level = d.level()
			x.Num = d.uvarint("deleted table number")
			if d.err == nil {
				e.Deleted = append(e.Deleted, x)
			}
		case tagNextFileNum:
			e.NextFileNum = d.uvarint("next file number")
			if d.err == nil && (seenNext || e.NextFileNum == 0) {
				d.fail("repeated or zero next file number")
			}
			seenNext = true
		case tagLastSeq:
			e.LastSeq = d.uvarint("last seq")
			if d.err == nil && (seenLast || e.LastSeq == 0) {
				d.fail("repeated or zero last seq")
			}
			seenLast = true
		case tagCheckpoint:
			if e.Checkpoint != nil {
				d.fail("repeated checkpoint")
			}
			p := &LogPos{}
			p.Segment = d.uvarint("checkpoint segment")
			p.Offset = d.uvarint("checkpoint offset")
			e.Checkpoint = p
		case tagSegmentLive:
			s := d.uvarint("segment")
			v := d.varint("segment live delta")
			if d.err != nil {
				break
			}
			if e.SegmentLive == nil {
				e.SegmentLive = make(map[uint64]int64)
			}
			if _, dup := e.SegmentLive[s]; dup {
				d.fail(fmt.Sprintf("segment %d listed twice", s))
			}
			e.SegmentLive[s] = v
		case tagDeletedSegment:
			s := d.uvarint("deleted segment")
			if d.err == nil {
				e.DeletedSegments = append(e.DeletedSegments, s)
			}
		default:
			d.fail(fmt.Sprintf("unknown tag %d", tag))
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}

package kvsep

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	segmentHeaderLen = 16
	segmentMagic     = "TLVG"
	segmentVersion   = 1
)

// SegmentFileName returns the file name of segment num ("000012.vlog").
func SegmentFileName(num uint64) string { return fmt.Sprintf("%06d.vlog", num) }

// ParseSegmentFileName parses a name made by SegmentFileName.
func ParseSegmentFileName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, ".vlog")
	if !ok || len(s) < 6 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

func putSegmentHeader(b []byte, num uint64, size int64) {
	copy(b, segmentMagic)
	b[4] = segmentVersion
	b[5] = byte(bits.TrailingZeros64(uint64(size)))
	b[6], b[7] = 0, 0
	binary.LittleEndian.PutUint64(b[8:], num)
}

// checkSegmentHeader verifies that b starts with the header of segment num
// of the given size.
func checkSegmentHeader(b []byte, num uint64, size int64) error {
	if len(b) < segmentHeaderLen {
		return fmt.Errorf("%w: segment %06d: header truncated (%d bytes)", ErrCorrupt, num, len(b))
	}
	if string(b[:4]) != segmentMagic {
		return fmt.Errorf("%w: segment %06d: bad magic %q", ErrCorrupt, num, b[:4])
	}
	if b[4] != segmentVersion {
		return fmt.Errorf("%w: segment %06d: unknown version %d", ErrCorrupt, num, b[4])
	}
	if got := int64(1) << (b[5] & 63); got != size || b[5] > 40 {
		return fmt.Errorf("%w: segment %06d: written with segment size 2^%d, want %d", ErrCorrupt, num, b[5], size)
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != num {
		return fmt.Errorf("%w: segment %06d: header names segment %d", ErrCorrupt, num, got)
	}
	return nil
}

// ScanSegment decodes the frames of segment num held in buf, starting at
// offset from (at least the header's end), calling fn for each frame in
// order. It verifies the segment header and every checksum. It is what a
// build-index backup runs over a received segment buffer.
//
// If sealed, buf must be the whole segment, and any frame that fails to
// decode, a broken sequence, or a non-zero byte after the last frame is
// ErrCorrupt. If not sealed, the first frame that fails to decode ends the
// scan without error (a torn or not yet written tail). It returns the offset
// after the last good frame. An error from fn is returned as is.
func ScanSegment(buf []byte, num uint64, size int64, from int, sealed bool, fn func(f *Frame) error) (end int, err error) {
	if sealed && int64(len(buf)) != size {
		return 0, fmt.Errorf("%w: sealed segment %06d is %d bytes, want %d", ErrCorrupt, num, len(buf), size)
	}
	if int64(len(buf)) > size {
		return 0, fmt.Errorf("%w: segment %06d buffer of %d bytes exceeds segment size %d", ErrCorrupt, num, len(buf), size)
	}
	if err := checkSegmentHeader(buf, num, size); err != nil {
		return 0, err
	}
	off := max(from, segmentHeaderLen)
	var f Frame
	var next uint64 // expected firstSeq of the next frame; 0 before the first
	for {
		ok, derr := DecodeFrame(buf, num, off, &f)
		if derr == nil && ok && next != 0 && f.FirstSeq != next {
			derr = fmt.Errorf("%w: segment %06d offset %d: frame seq %d, want %d", ErrCorrupt, num, off, f.FirstSeq, next)
		}
		if derr != nil {
			if sealed {
				return off, derr
			}
			return off, nil
		}
		if !ok {
			break
		}
		if fn != nil {
			if err := fn(&f); err != nil {
				return off, err
			}
		}
		next = f.FirstSeq + uint64(len(f.Records))
		off += f.Len
	}
	if sealed && !isZero(buf[off:]) {
		return off, fmt.Errorf("%w: segment %06d: non-zero bytes in padding after offset %d", ErrCorrupt, num, off)
	}
	return off, nil
}

// DetectSegmentSize returns the segment size recorded in the header of the
// first segment in dir with a readable header (ok=false if there is none).
// Tools that open a stopped store use it to learn the store's segment size.
func DetectSegmentSize(fs vfs.FS, dir string) (size int64, ok bool, err error) {
	names, err := fs.List(dir)
	if err != nil {
		if oserror.IsNotExist(err) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("kvsep: list %s: %w", dir, err)
	}
	slices.Sort(names)
	for _, name := range names {
		n, isSeg := ParseSegmentFileName(name)
		if !isSeg {
			continue
		}
		f, err := fs.Open(fs.PathJoin(dir, name))
		if err != nil {
			return 0, false, fmt.Errorf("kvsep: open %s: %w", name, err)
		}
		var h [segmentHeaderLen]byte
		_, rerr := f.ReadAt(h[:], 0)
		f.Close()
		if rerr != nil || string(h[:4]) != segmentMagic || h[5] < 12 || h[5] > 30 {
			continue
		}
		size := int64(1) << h[5]
		if checkSegmentHeader(h[:], n, size) == nil {
			return size, true, nil
		}
	}
	return 0, false, nil
}

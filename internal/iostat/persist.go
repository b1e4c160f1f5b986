package iostat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/errors/oserror"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrCorrupt reports a persisted counter file that fails its checks.
var ErrCorrupt = errors.New("iostat: counter file corrupted")

const (
	magic   = "TIOS"
	version = 1
	// encodedLen is magic, version, both arrays and the checksum.
	encodedLen = 4 + 4 + 16*int(NumKinds) + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns the on-disk form of s (see the package doc).
func (s Snapshot) Encode() []byte {
	b := make([]byte, 0, encodedLen)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	for k := Kind(0); k < NumKinds; k++ {
		b = binary.LittleEndian.AppendUint64(b, s.Read[k])
	}
	for k := Kind(0); k < NumKinds; k++ {
		b = binary.LittleEndian.AppendUint64(b, s.Written[k])
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Decode parses the on-disk form written by Encode.
func Decode(b []byte) (Snapshot, error) {
	var s Snapshot
	if len(b) != encodedLen {
		return s, fmt.Errorf("%w: length %d, want %d", ErrCorrupt, len(b), encodedLen)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return s, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	if string(body[:4]) != magic {
		return s, fmt.Errorf("%w: bad magic %q", ErrCorrupt, body[:4])
	}
	if v := binary.LittleEndian.Uint32(body[4:8]); v != version {
		return s, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	p := body[8:]
	for k := Kind(0); k < NumKinds; k++ {
		s.Read[k] = binary.LittleEndian.Uint64(p)
		p = p[8:]
	}
	for k := Kind(0); k < NumKinds; k++ {
		s.Written[k] = binary.LittleEndian.Uint64(p)
		p = p[8:]
	}
	return s, nil
}

// Load reads a counter file. A missing file is an empty snapshot and no
// error; a damaged one is ErrCorrupt.
func Load(fs vfs.FS, path string) (Snapshot, error) {
	f, err := fs.Open(path)
	if err != nil {
		if oserror.IsNotExist(err) {
			return Snapshot{}, nil
		}
		return Snapshot{}, fmt.Errorf("iostat: open %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return Snapshot{}, fmt.Errorf("iostat: read %s: %w", path, err)
	}
	s, err := Decode(b)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Store writes s to path atomically: a temporary file, synced, renamed over
// path, and the directory synced. Any failure is returned; the caller treats
// it like any failed write of durable state.
func Store(fs vfs.FS, path string, s Snapshot) error {
	tmp := path + ".tmp"
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("iostat: create %s: %w", tmp, err)
	}
	if _, err := f.Write(s.Encode()); err != nil {
		f.Close()
		return fmt.Errorf("iostat: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("iostat: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("iostat: close %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("iostat: rename %s: %w", tmp, err)
	}
	d, err := fs.OpenDir(fs.PathDir(path))
	if err != nil {
		return fmt.Errorf("iostat: open dir of %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("iostat: sync dir of %s: %w", path, err)
	}
	return nil
}

package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/internal/iostat"
)

const (
	currentName    = "CURRENT"
	manifestPrefix = "MANIFEST-"
	// manifestRollover: once the manifest passes this size, the next edit
	// starts a new manifest beginning with a snapshot of the whole state.
	manifestRollover = 4 << 20
)

func manifestFileName(num uint64) string { return fmt.Sprintf("%s%06d", manifestPrefix, num) }

// manifestWriter appends framed edits to the live manifest.
type manifestWriter struct {
	f    vfs.File
	num  uint64
	size int64
}

// frameRecord frames an encoded edit: length, crc32c of the length, payload.
func frameRecord(payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(b[0:4], castagnoli))
	return append(b, payload...)
}

// append writes and syncs one edit. Any error is fatal to the index.
func (m *manifestWriter) append(e *VersionEdit) error {
	rec := frameRecord(e.Encode())
	if _, err := m.f.Write(rec); err != nil {
		return fmt.Errorf("index: write %s: %w", manifestFileName(m.num), err)
	}
	if err := m.f.Sync(); err != nil {
		return fmt.Errorf("index: sync %s: %w", manifestFileName(m.num), err)
	}
	m.size += int64(len(rec))
	return nil
}

func (m *manifestWriter) close() error {
	if m == nil || m.f == nil {
		return nil
	}
	err := m.f.Close()
	m.f = nil
	return err
}

// createManifest writes a new manifest holding snapshot, syncs it, and
// points CURRENT at it (temporary file, sync, rename, directory sync).
func createManifest(fs vfs.FS, dir string, num uint64, snapshot *VersionEdit) (*manifestWriter, error) {
	name := fs.PathJoin(dir, manifestFileName(num))
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("index: create %s: %w", manifestFileName(num), err)
	}
	m := &manifestWriter{f: f, num: num}
	if err := m.append(snapshot); err != nil {
		_ = m.close()
		return nil, err
	}
	if err := setCurrent(fs, dir, num); err != nil {
		_ = m.close()
		return nil, err
	}
	return m, nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("index: open dir %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("index: sync dir %s: %w", dir, err)
	}
	return d.Close()
}

// setCurrent atomically replaces CURRENT with the name of manifest num.
func setCurrent(fs vfs.FS, dir string, num uint64) error {
	tmp := fs.PathJoin(dir, fmt.Sprintf("%s.%06d.tmp", currentName, num))
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("index: create %s: %w", tmp, err)
	}
	if _, err := f.Write([]byte(manifestFileName(num) + "\n")); err != nil {
		_ = f.Close()
		return fmt.Errorf("index: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("index: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("index: close %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, fs.PathJoin(dir, currentName)); err != nil {
		return fmt.Errorf("index: rename %s to CURRENT: %w", tmp, err)
	}
	return syncDir(fs, dir)
}

// readCurrent returns the manifest number CURRENT names; ok is false when
// there is no CURRENT (a new index).
func readCurrent(fs vfs.FS, dir string) (num uint64, ok bool, err error) {
	f, err := fs.Open(fs.PathJoin(dir, currentName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("index: open CURRENT: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return 0, false, fmt.Errorf("index: read CURRENT: %w", err)
	}
	s := string(b)
	if !strings.HasSuffix(s, "\n") || !strings.HasPrefix(s, manifestPrefix) {
		return 0, false, fmt.Errorf("%w: CURRENT holds %q", ErrCorrupt, s)
	}
	num, err = strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(s, manifestPrefix), "\n"), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w: CURRENT holds %q", ErrCorrupt, s)
	}
	return num, true, nil
}

// readManifestFile decodes every edit of a manifest. A record cut short at
// the end of the file (a write that was never synced) ends the log; any
// other damage is ErrCorrupt.
func readManifestFile(fs vfs.FS, name string) ([]*VersionEdit, error) {
	f, err := fs.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: manifest %s named by CURRENT is missing", ErrCorrupt, name)
		}
		return nil, fmt.Errorf("index: open manifest: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("index: read manifest %s: %w", name, err)
	}
	var edits []*VersionEdit
	off := 0
	for off < len(b) {
		if len(b)-off < 8 {
			break // torn header at the tail
		}
		n := binary.LittleEndian.Uint32(b[off:])
		if crc32.Checksum(b[off:off+4], castagnoli) != binary.LittleEndian.Uint32(b[off+4:]) {
			return nil, fmt.Errorf("%w: manifest %s: record header at offset %d: bad checksum", ErrCorrupt, name, off)
		}
		if uint64(len(b)-off-8) < uint64(n) {
			break // torn payload at the tail
		}
		e, err := DecodeVersionEdit(b[off+8 : off+8+int(n)])
		if err != nil {
			return nil, fmt.Errorf("manifest %s: record at offset %d: %w", name, off, err)
		}
		edits = append(edits, e)
		off += 8 + int(n)
	}
	if len(edits) == 0 {
		return nil, fmt.Errorf("%w: manifest %s holds no complete edit", ErrCorrupt, name)
	}
	return edits, nil
}

// ReadManifest returns the edits of the live manifest of the index in dir
// (for inspection tools). Its reads are not attributed to any counters.
func ReadManifest(fs vfs.FS, dir string) ([]*VersionEdit, error) {
	num, ok, err := readCurrent(fs, dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("index: %s: no CURRENT file: %w", dir, os.ErrNotExist)
	}
	return readManifestFile(fs, fs.PathJoin(dir, manifestFileName(num)))
}

// manifestFS returns the FS used for manifest and CURRENT I/O.
func (x *Index) manifestFS() vfs.FS { return x.opts.Counters.FS(x.opts.FS, iostat.Manifest) }

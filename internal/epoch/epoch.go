// Package epoch persists a replica's epoch: the number of the newest
// primary it has accepted. A replica never acts on messages of an older
// epoch (DESIGN.md invariant 4), so the epoch must survive restarts and be
// durable before the replica acts on the new primary's first message.
//
// The EPOCH file:
//
//	+----------------+-----------------+-----------------+
//	| magic "TEPO"   | epoch uint64 LE | crc32c uint32 LE|
//	+----------------+-----------------+-----------------+
//
// It is replaced atomically: a temporary file, synced, renamed, and the
// directory synced.
package epoch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FileName is the epoch file's name in a store directory.
const FileName = "EPOCH"

// ErrCorrupt reports an epoch file that fails its checks.
var ErrCorrupt = errors.New("epoch: EPOCH file corrupted")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Load returns the epoch stored in dir, or 0 if there is none yet.
func Load(fs vfs.FS, dir string) (uint64, error) {
	name := fs.PathJoin(dir, FileName)
	f, err := fs.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("epoch: open %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("epoch: read %s: %w", name, err)
	}
	if len(b) != 16 || string(b[:4]) != "TEPO" {
		return 0, fmt.Errorf("%w: %s: %d bytes, bad header", ErrCorrupt, name, len(b))
	}
	if crc32.Checksum(b[:12], castagnoli) != binary.LittleEndian.Uint32(b[12:]) {
		return 0, fmt.Errorf("%w: %s: bad checksum", ErrCorrupt, name)
	}
	return binary.LittleEndian.Uint64(b[4:12]), nil
}

// Store durably records epoch e in dir. A failure is fatal to the caller:
// it must not act on epoch e.
func Store(fs vfs.FS, dir string, e uint64) error {
	b := make([]byte, 0, 16)
	b = append(b, "TEPO"...)
	b = binary.LittleEndian.AppendUint64(b, e)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	name := fs.PathJoin(dir, FileName)
	tmp := name + ".tmp"
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("epoch: create %s: %w", tmp, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("epoch: write %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, name); err != nil {
		return fmt.Errorf("epoch: rename %s: %w", tmp, err)
	}
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("epoch: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("epoch: sync dir %s: %w", dir, err)
	}
	return nil
}

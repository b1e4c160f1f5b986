package backup

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/kvsep"
)

// Names of the engine's files that a reset removes: the index's tables,
// manifests and CURRENT pointer, and the value log's segments. The epoch,
// the I/O counters and the lock stay.
const (
	vlogDir        = "vlog"
	manifestPrefix = "MANIFEST-"
	currentName    = "CURRENT"
)

// reset makes the store empty, durably, and reopens the engine on it: a
// welcomed backup starts from nothing and copies the primary's snapshot.
// Files are removed in an order that leaves an openable directory at every
// crash point: CURRENT first (an index without CURRENT starts empty), then
// manifests, tables and segments, each directory synced.
func (n *Node) reset() error {
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			n.setDB(nil)
			return fmt.Errorf("backup: reset: close store: %w", err)
		}
		n.setDB(nil)
	}
	if err := removeMatching(n.fs, n.dir, func(name string) bool { return name == currentName }); err != nil {
		return err
	}
	if err := removeMatching(n.fs, n.dir, func(name string) bool {
		return strings.HasPrefix(name, manifestPrefix) || strings.HasSuffix(name, ".sst") ||
			(strings.HasPrefix(name, currentName+".") && strings.HasSuffix(name, ".tmp"))
	}); err != nil {
		return err
	}
	vdir := n.fs.PathJoin(n.dir, vlogDir)
	if err := removeMatching(n.fs, vdir, func(name string) bool {
		_, seg := kvsep.ParseSegmentFileName(name)
		return seg || strings.HasSuffix(name, ".tmp")
	}); err != nil {
		return err
	}
	db, err := engine.Open(n.dir, n.eo)
	if err != nil {
		return fmt.Errorf("backup: reset: reopen store: %w", err)
	}
	n.setDB(db)
	n.opts.Logger.Info("store reset: catching up from the primary's snapshot", "dir", n.dir)
	return nil
}

// removeMatching removes the files of dir that match and syncs dir. A
// missing dir holds nothing to remove.
func removeMatching(fs vfs.FS, dir string, match func(string) bool) error {
	names, err := fs.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: reset: list %s: %w", dir, err)
	}
	removed := false
	for _, name := range names {
		if !match(name) {
			continue
		}
		if err := fs.Remove(fs.PathJoin(dir, name)); err != nil {
			return fmt.Errorf("backup: reset: remove %s: %w", name, err)
		}
		removed = true
	}
	if !removed {
		return nil
	}
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("backup: reset: open %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: reset: sync %s: %w", dir, err)
	}
	return nil
}

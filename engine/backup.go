package engine

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// TableFileName is the name index gives table num in the store directory.
func TableFileName(num uint64) string { return fmt.Sprintf("%06d.sst", num) }

// CreateTable creates the file of table num in the store directory, for a
// backup receiving a table from its primary (a ship-index backup's every
// table; a build-index backup's catch-up snapshot). Bytes written to it
// count as iostat.Replication. The caller writes, syncs and closes it, then
// installs the edit that names it (InstallEdit).
func (db *DB) CreateTable(num uint64) (vfs.File, error) {
	if db.opts.Mode == ModePrimary {
		return nil, fmt.Errorf("engine: CreateTable on a %v engine: only backups receive tables", db.opts.Mode)
	}
	fs := db.counters.FS(db.fs, iostat.Replication)
	f, err := fs.Create(fs.PathJoin(db.dir, TableFileName(num)), vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("engine: create table %d: %w", num, err)
	}
	return f, nil
}

// InstallEdit installs a version edit made by a primary (ship-index
// backups): every table it adds must already be whole in the directory
// with the edit's size and checksum (else ErrCorrupt and nothing changes).
// The value-log segments its tables point into must have been written
// (WriteSegment) first. A failure to log the edit stops the engine.
func (db *DB) InstallEdit(e *index.VersionEdit) error { return db.InstallEditChecked(e, nil) }

// InstallEditChecked is InstallEdit for a backup that verified some tables'
// size and crc32c as they arrived: those are not read back (see
// index.Index.InstallEditChecked).
//
// A build-index engine installs one edit only: a primary's catch-up
// snapshot, on an empty store (after a reset), as its base version; it
// then continues with CatchUpReplay and ReplaySegment.
func (db *DB) InstallEditChecked(e *index.VersionEdit, checked index.Checked) error {
	switch db.opts.Mode {
	case ModePrimary:
		return fmt.Errorf("engine: InstallEdit on a %v engine: only backups install a primary's edits", db.opts.Mode)
	case ModeBuildIndex:
		if err := db.checkEmptyForSnapshot(); err != nil {
			return err
		}
	}
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.idx.InstallEditChecked(e, checked); err != nil {
		return markCorrupt(err)
	}
	if e.LastSeq > db.visibleSeq.Load() {
		db.visibleSeq.Store(e.LastSeq)
		db.nextSeq = e.LastSeq + 1
	}
	for _, n := range e.DeletedSegments {
		db.readers.Lock()
		db.readers.pending = append(db.readers.pending, pendingSegment{num: n, seq: db.visibleSeq.Load()})
		db.readers.Unlock()
	}
	db.removeReadySegments(false)
	return nil
}

// WriteSegment stores a value-log segment image received from a primary
// under the same number (ship-index and build-index backups): verified,
// written, synced. See kvsep.Log.WriteSegment.
func (db *DB) WriteSegment(num uint64, data []byte) error {
	if db.opts.Mode == ModePrimary {
		return fmt.Errorf("engine: WriteSegment on a %v engine: only backups receive segments", db.opts.Mode)
	}
	return markCorrupt(db.log.WriteSegment(num, data))
}

// WriteSegmentFrom is WriteSegment when the first from bytes of segment
// num are already in its file: only the rest is verified and written (see
// kvsep.Log.WriteSegmentFrom).
func (db *DB) WriteSegmentFrom(num uint64, data []byte, from int) error {
	if db.opts.Mode == ModePrimary {
		return fmt.Errorf("engine: WriteSegmentFrom on a %v engine: only backups receive segments", db.opts.Mode)
	}
	return markCorrupt(db.log.WriteSegmentFrom(num, data, from))
}

// Log returns the value log, for replication: its Buffers (to register
// with the NIC), Active segment, ScanSegment over received buffers.
func (db *DB) Log() *kvsep.Log { return db.log }

// Index returns the index (read-only uses: Checkpoint, LastSeq, Levels).
func (db *DB) Index() *index.Index { return db.idx }

func (m Mode) String() string {
	switch m {
	case ModePrimary:
		return "primary"
	case ModeShipIndex:
		return "ship-index"
	case ModeBuildIndex:
		return "build-index"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

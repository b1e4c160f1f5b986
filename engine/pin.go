package engine

import (
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// Pin is one consistent state of the store expressed as files, for a
// primary copying it to a joining backup: the tables of every level, the
// value-log segments below a bound, and a snapshot edit that recreates the
// index state. The files stay on disk until Release. A Pin is safe for
// concurrent use; Release must be called exactly once.
type Pin struct {
	db *DB
	// Edit adds every table of the pinned version at its level and carries
	// the checkpoint, LastSeq, SegmentLive and a NextFileNum above every
	// table. A backup with no state installs it as its base version.
	Edit *index.VersionEdit
	// Segments are the segment files below the bound that GC has not
	// deleted, ascending.
	Segments []uint64
	it       *index.Iter
	seq      uint64
	released bool
}

// pinState is what Pin compares to know that no edit ran while it pinned.
type pinState struct {
	levels     []index.LevelInfo
	checkpoint index.LogPos
	lastSeq    uint64
	segLive    map[uint64]int64
}

func (db *DB) readPinState() pinState {
	return pinState{
		levels:     db.idx.Levels(),
		checkpoint: db.idx.Checkpoint(),
		lastSeq:    db.idx.LastSeq(),
		segLive:    db.idx.SegmentLive(),
	}
}

func (a pinState) equal(b pinState) bool {
	if a.checkpoint != b.checkpoint || a.lastSeq != b.lastSeq || len(a.levels) != len(b.levels) || len(a.segLive) != len(b.segLive) {
		return false
	}
	for l := range a.levels {
		x, y := a.levels[l].Tables, b.levels[l].Tables
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].Num != y[i].Num {
				return false
			}
		}
	}
	for s, n := range a.segLive {
		if m, ok := b.segLive[s]; !ok || m != n {
			return false
		}
	}
	return true
}

// Pin pins the current version and the value-log segments numbered below
// segBelow. Called from an EditApplied listener callback (which runs with
// the index's edit lock held) it is exactly the state after that edit;
// called elsewhere it is the state after some edit, checked by reading it
// before and after taking the references (and retried if an edit ran in
// between).
//
// Tables cannot be deleted while the pin holds the version that names
// them (an index iterator's read state); segments cannot be deleted while
// it holds a reader below every value-log GC deletion to come.
func (db *DB) Pin(segBelow uint64) (*Pin, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	// A reader strictly below the visible seq: GC records a deletion at the
	// visible seq of its time, and removes the file only once no reader is
	// below that.
	db.readers.Lock()
	seq := db.visibleSeq.Load()
	if seq > 0 {
		seq--
	}
	db.readers.seqs[seq]++
	db.readers.Unlock()
	p := &Pin{db: db, seq: seq}
	for attempt := 0; ; attempt++ {
		before := db.readPinState()
		it := db.idx.NewIter(index.IterOptions{Seq: seq})
		after := db.readPinState()
		if before.equal(after) {
			p.it = it
			p.Edit = snapshotEdit(after)
			break
		}
		if err := it.Close(); err != nil {
			p.Release()
			return nil, fmt.Errorf("engine: pin: %w", err)
		}
		if attempt > 1000 {
			p.Release()
			return nil, fmt.Errorf("engine: pin: the index changed under every one of %d attempts", attempt)
		}
	}
	db.readers.Lock()
	gone := map[uint64]bool{}
	for _, ps := range db.readers.pending {
		gone[ps.num] = true
	}
	for n := range db.readers.removing {
		gone[n] = true // its file is being removed now
	}
	db.readers.Unlock()
	for _, s := range db.log.Segments() {
		if s < segBelow && !gone[s] {
			p.Segments = append(p.Segments, s)
		}
	}
	return p, nil
}

func snapshotEdit(s pinState) *index.VersionEdit {
	cp := s.checkpoint
	e := &index.VersionEdit{LastSeq: s.lastSeq, Checkpoint: &cp, SegmentLive: s.segLive}
	next := uint64(0)
	for _, li := range s.levels {
		for _, t := range li.Tables {
			e.Added = append(e.Added, index.NewTable{Level: li.Level, Meta: t})
			next = max(next, t.Num+1)
		}
	}
	e.NextFileNum = next
	return e
}

// Tables returns the pinned tables, level by level.
func (p *Pin) Tables() []index.TableMeta {
	out := make([]index.TableMeta, 0, len(p.Edit.Added))
	for _, a := range p.Edit.Added {
		out = append(out, a.Meta)
	}
	return out
}

// TableNums returns the numbers of the pinned tables, ascending.
func (p *Pin) TableNums() []uint64 {
	out := make([]uint64, 0, len(p.Edit.Added))
	for _, a := range p.Edit.Added {
		out = append(out, a.Meta.Num)
	}
	slices.Sort(out)
	return out
}

// Release lets the pinned files go. It panics if called twice.
func (p *Pin) Release() {
	if p.released {
		panic("engine: Pin released twice")
	}
	p.released = true
	if p.it != nil {
		_ = p.it.Close() // an unpositioned iterator holds no error
	}
	p.db.unregisterReader(p.seq)
}

// OpenTable opens table num for reading by replication (a primary copying
// it to a backup): its bytes count as iostat.Replication. The table must be
// pinned or otherwise known to be live.
func (db *DB) OpenTable(num uint64) (vfs.File, error) {
	fs := db.counters.FS(db.fs, iostat.Replication)
	f, err := fs.Open(fs.PathJoin(db.dir, TableFileName(num)))
	if err != nil {
		return nil, fmt.Errorf("engine: open table %d for replication: %w", num, err)
	}
	return f, nil
}

// OpenSegment opens value-log segment num for reading by replication: its
// bytes count as iostat.Replication. The segment must be pinned.
func (db *DB) OpenSegment(num uint64) (vfs.File, error) {
	fs := db.counters.FS(db.fs, iostat.Replication)
	f, err := fs.Open(fs.PathJoin(db.dir, vlogDir, kvsep.SegmentFileName(num)))
	if err != nil {
		return nil, fmt.Errorf("engine: open segment %d for replication: %w", num, err)
	}
	return f, nil
}

// MarkEdit logs an empty version edit. Its EditApplied callback (reason
// "external") runs with the index's edit lock held, like every edit's: a
// primary that needs a Pin at a known point of its edit stream calls it
// when no other edit comes. It is durable when it returns.
func (db *DB) MarkEdit() error {
	if db.closed.Load() {
		return ErrClosed
	}
	return db.idx.ApplyEdit(&index.VersionEdit{})
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// FilterDecision is a compaction filter's answer about one entry.
type FilterDecision = index.FilterDecision

// The decisions (index.FilterKeep, index.FilterDelete).
const (
	FilterKeep   = index.FilterKeep
	FilterDelete = index.FilterDelete
)

// CompactionFilter makes the filter of one compaction (Options.CompactionFilter).
//
// The engine calls it when a compaction starts rewriting entries (never for
// a flush or a table moved without a rewrite; never in ModeShipIndex, whose
// tables are the primary's) and calls the function it returns, or filters
// nothing if it returns nil, for every live version of a key (a set entry)
// the compaction would keep, on the compaction's goroutine, in key order
// (user key ascending, newest version first). The function may keep state
// for the compaction without locking; CompactionFilter itself may be
// called by several compactions at once.
//
// FilterDelete deletes the entry as index.FilterDelete does: a tombstone
// takes its place (older versions stay hidden), or nothing at the bottom of
// the tree (see the index package, invariant 9).
//
// Locks and deadlock: the function runs with no engine or index lock held.
// It may call the FilterEntry's Value, Get and ReaderBelow (each takes and
// releases its locks before returning) and read the DB, but it must not
// write to the DB, nor wait for anything that waits for a write or a
// compaction (a lock held by a writer, Flush, Close): a write may be stalled
// until compactions catch up, and this compaction cannot finish until the
// function returns.
type CompactionFilter func(info index.CompactionInfo) func(e *FilterEntry) FilterDecision

// FilterEntry is one entry a compaction offers to the filter. It and the
// slices it returns are valid only during the call.
type FilterEntry struct {
	// Key is the user key.
	Key []byte
	// Seq is the entry's sequence number.
	Seq uint64
	// Snapshot: an open snapshot (as of the compaction's start) reads this
	// version (index.FilterEntry.Snapshot). A decision that holds only for
	// the newest state must keep such entries; see also ReaderBelow.
	Snapshot bool

	f      *filterState
	raw    []byte // the index value: inline or a value-log pointer
	val    []byte
	loaded bool
	failed error // a failed Value or Get: the entry is kept
}

// filterState is one compaction's filter: the entry handed to the user's
// function and a read buffer, reused entry after entry.
type filterState struct {
	db    *DB
	fn    func(e *FilterEntry) FilterDecision
	entry FilterEntry
	buf   []byte
}

// filterCtx attributes the value-log reads of compaction filters to
// compaction.
var filterCtx = iostat.WithKind(context.Background(), iostat.Compaction)

// Value returns the entry's value. A value kept in the value log is read
// from it (the read counts as compaction I/O); filters that can decide from
// the key alone should not call it. If the value cannot be read (an I/O
// error, corruption, or a segment value-log GC already collected, which
// only versions newer ones shadow can point into), Value returns the error
// and the entry is kept whatever the filter answers.
func (e *FilterEntry) Value() ([]byte, error) {
	if e.loaded {
		return e.val, nil
	}
	db := e.f.db
	inline, p, isPtr, err := decodeIndexValue(e.raw)
	if err == nil && !isPtr {
		e.val, e.loaded = inline, true
		return inline, nil
	}
	if err == nil {
		db.readMu.RLock() // GC removes no segment file while it is held
		e.val, err = db.readPointer(filterCtx, e.Key, p, e.f.buf)
		db.readMu.RUnlock()
		if err != nil && slices.Contains(db.log.Segments(), p.Segment) {
			db.opts.Logger.Warn("compaction filter: cannot read a value; the entry is kept", "key", e.Key, "err", err)
		}
	}
	if err != nil {
		e.failed = fmt.Errorf("engine: compaction filter value of key %q: %w", e.Key, err)
		return nil, e.failed
	}
	if cap(e.val) > cap(e.f.buf) {
		e.f.buf = e.val[:0]
	}
	e.loaded = true
	return e.val, nil
}

// ValuePrefix returns the first min(n, length) bytes of the entry's value
// when they are known without a value-log read: the value is inline, or
// its index entry keeps at least that many bytes beside its pointer
// (Options.ValuePrefix). ok is false otherwise (call Value); so it is for
// a corrupt entry, which Value then reports. The bytes are covered by the
// table's block checksums like the rest of the entry.
func (e *FilterEntry) ValuePrefix(n int) (prefix []byte, ok bool) {
	if e.loaded {
		return e.val[:min(n, len(e.val))], true
	}
	inline, p, pre, isPtr, err := decodeIndexValuePrefix(e.raw)
	switch {
	case err != nil:
		return nil, false
	case !isPtr:
		return inline[:min(n, len(inline))], true
	case len(pre) >= n:
		return pre[:n], true
	case len(pre) > 0 && uint64(kvsep.RecordLen(len(e.Key), len(pre))) == uint64(p.Length):
		return pre, true // the whole value is the prefix
	}
	return nil, false
}

// Get reads the newest value of key (ErrNotFound if it has none) and
// returns it with the seq it was read at, exactly as a reader at that seq
// sees it. Index table reads count as get I/O, value-log reads as
// compaction I/O. Any error but ErrNotFound makes the entry kept whatever
// the filter answers.
//
// What Get returns is the state at seq, not at the entry's own seq: a
// decision drawn from it holds for readers at seq or above, and for older
// readers only if it is permanent. Call ReaderBelow(seq) before deleting on
// such grounds.
func (e *FilterEntry) Get(key []byte) (value []byte, seq uint64, err error) {
	db := e.f.db
	db.readMu.RLock()
	defer db.readMu.RUnlock()
	v, found, err := db.idx.GetVisible(key, func() uint64 {
		seq = db.visibleSeq.Load()
		return seq
	})
	if err == nil && found {
		value, err = db.resolve(filterCtx, key, v, nil)
	}
	if err != nil {
		e.failed = fmt.Errorf("engine: compaction filter lookup of key %q: %w", key, markCorrupt(err))
		return nil, seq, e.failed
	}
	if !found {
		return nil, seq, ErrNotFound
	}
	return value, seq, nil
}

// ReaderBelow reports whether an open snapshot or iterator of the engine
// may read this entry at a seq below seq: one registered at a seq from the
// entry's up to seq (exclusive). Readers registered after a Get that
// returned seq are at seq or above, so if ReaderBelow(seq) is false, a
// decision that holds for every seq from seq on (a key gone for good, a
// hash version replaced for good) holds for every reader of this entry.
// (Iterators read the tables they pinned, which a compaction does not
// change; counting them is conservative.)
func (e *FilterEntry) ReaderBelow(seq uint64) bool {
	db := e.f.db
	db.readers.Lock()
	defer db.readers.Unlock()
	for s := range db.readers.seqs {
		if s >= e.Seq && s < seq {
			return true
		}
	}
	return false
}

// compactionFilter is index.Options.CompactionFilter: it wraps the user's
// filter of each compaction.
func (db *DB) compactionFilter(info index.CompactionInfo) index.EntryFilter {
	fn := db.opts.CompactionFilter(info)
	if fn == nil {
		return nil
	}
	st := &filterState{db: db, fn: fn}
	return st.filter
}

func (st *filterState) filter(ie *index.FilterEntry) index.FilterDecision {
	e := &st.entry
	*e = FilterEntry{Key: ie.Key, Seq: ie.Seq, Snapshot: ie.Snapshot, f: st, raw: ie.Value}
	d := st.fn(e)
	failed := e.failed
	*e = FilterEntry{}
	if failed != nil || d != FilterDelete {
		return FilterKeep
	}
	return FilterDelete
}

// CompactAll flushes the memtable, then rewrites every level into the next
// one down to the last, whatever the levels' scores (index.CompactAll):
// shadowed versions, tombstones and what the compaction filter deletes are
// dropped, except what open snapshots need. For tests and maintenance; a
// ship-index backup refuses it (its tables are its primary's).
func (db *DB) CompactAll(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.opts.Mode == ModeShipIndex {
		return fmt.Errorf("%w: compaction of a ship-index backup", ErrReadOnly)
	}
	if err := db.idx.CompactAll(ctx); err != nil {
		if errors.Is(err, index.ErrClosed) {
			return ErrClosed
		}
		return markCorrupt(err)
	}
	db.persistIOStats()
	return db.Err()
}

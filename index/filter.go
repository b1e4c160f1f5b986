package index

import "slices"

// FilterDecision is what a compaction filter decides about one entry.
type FilterDecision uint8

const (
	// FilterKeep keeps the entry as it is (also the answer for any
	// decision value the index does not know).
	FilterKeep FilterDecision = iota
	// FilterDelete deletes the entry: the compaction writes a tombstone
	// with the entry's sequence number in its place, or drops it outright
	// where a tombstone would itself be dropped (see doc.go, invariant 9).
	FilterDelete
)

// FilterEntry is one set entry a compaction is about to keep (it survived
// the shadowing rules of invariant 4). Its slices alias the compaction's
// buffers and are valid only during the call; the filter must not modify
// them.
type FilterEntry struct {
	// Key is the user key.
	Key []byte
	// Seq is the entry's sequence number.
	Seq uint64
	// Value is the value as the index holds it (opaque bytes: for the
	// engine, an inline value or a value-log pointer).
	Value []byte
	// Snapshot is true when an open snapshot reads this version: a delete
	// decision must then hold for a reader at that snapshot's seq as well
	// as at the newest seq. A decision that depends only on the value and
	// on the wall clock (an expiry time, absolute, that passed) holds for
	// every reader; one that depends on other keys' newest versions may
	// not, and should keep such entries.
	Snapshot bool
}

// CompactionInfo describes a compaction that is about to rewrite entries.
type CompactionInfo struct {
	// Level is the input level; the output goes to Level+1.
	Level int
	// Bottom: no table below the output level overlaps the compaction, so
	// deleted entries (and tombstones) with no snapshot below them are
	// dropped outright.
	Bottom bool
}

// EntryFilter decides about the entries of one compaction. It is called on
// that compaction's goroutine only, in key order (user key ascending, then
// newest version first), so it may keep state (caches, buffers) without
// locking. It runs while the compaction reads and writes tables but holds
// no lock of the index: it may read the Index (Get, GetVisible, NewIter),
// but must not wait for anything that waits for compactions (MakeRoom, a
// write that may stall, Flush, Compact, WaitIdle, Close): that deadlocks.
type EntryFilter func(e *FilterEntry) FilterDecision

// compactionFilter applies Options.CompactionFilter to one compaction's
// entries and counts what it deleted.
type compactionFilter struct {
	fn     EntryFilter
	snaps  []uint64
	bottom bool
	entry  FilterEntry

	tombstoned uint64 // set entries written as tombstones
	dropped    uint64 // set entries dropped outright
}

// newCompactionFilter returns the filter of compaction c, or nil if the
// index has none (or the factory declines this compaction).
func (x *Index) newCompactionFilter(c *compaction) *compactionFilter {
	if x.opts.CompactionFilter == nil {
		return nil
	}
	fn := x.opts.CompactionFilter(CompactionInfo{Level: c.level, Bottom: c.bottom})
	if fn == nil {
		return nil
	}
	return &compactionFilter{fn: fn, snaps: c.snaps, bottom: c.bottom}
}

// apply runs the filter on an entry the compaction would keep. It returns
// the entry to write (the same, or a tombstone with the same seq) and
// whether to write anything at all. A deleted set entry's value no longer
// keeps value-log bytes alive: unref is called for it.
//
// Why this is safe (doc.go, invariant 9):
//
//   - A tombstone at the entry's seq hides exactly what the entry hid (older
//     versions of the key, in this compaction's older snapshot stripes and
//     in lower levels), so nothing older is resurrected, and readers at a
//     seq below the entry's still see what they saw.
//   - The entry is dropped outright only where a tombstone at its place
//     would be (compactEntries' elision): the compaction is at the bottom
//     for its key range and the entry is in the oldest snapshot stripe, so
//     no older version of the key survives anywhere.
//   - Readers at or above the entry's seq (the newest, or an open snapshot,
//     which Snapshot tells the filter) now find no value where they found
//     this one. For an entry whose absolute expiry time passed, that is
//     what every reader already answered: readers treat an expired entry
//     as absent whatever seq they read at.
func (f *compactionFilter) apply(key []byte, trailer uint64, value []byte, unref func(kind Kind, value []byte)) (uint64, []byte, bool) {
	if Kind(trailer&0xff) != KindSet {
		return trailer, value, true
	}
	seq := trailer >> 8
	stripe, _ := slices.BinarySearch(f.snaps, seq)
	f.entry = FilterEntry{Key: key, Seq: seq, Value: value, Snapshot: stripe < len(f.snaps)}
	d := f.fn(&f.entry)
	f.entry = FilterEntry{}
	if d != FilterDelete {
		return trailer, value, true
	}
	unref(KindSet, value)
	if f.bottom && stripe == 0 {
		f.dropped++
		return 0, nil, false
	}
	f.tombstoned++
	return seq<<8 | uint64(KindDelete), nil, true
}

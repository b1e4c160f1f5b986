package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/index"
)

// testFilter deletes "dead/" keys whose value starts with "expired", and
// "child/<p>/..." keys whose "parent/<p>" is gone for every reader of the
// entry. It records what it saw.
type testFilter struct {
	mu      sync.Mutex
	infos   []index.CompactionInfo
	values  map[string]string // dead/ key -> value read
	deleted []string
	// before, if set, runs before each child lookup.
	before func(e *FilterEntry)
}

func (f *testFilter) factory(info index.CompactionInfo) func(e *FilterEntry) FilterDecision {
	f.mu.Lock()
	f.infos = append(f.infos, info)
	f.mu.Unlock()
	return func(e *FilterEntry) FilterDecision {
		d := f.decide(e)
		if d == FilterDelete {
			f.mu.Lock()
			f.deleted = append(f.deleted, string(e.Key))
			f.mu.Unlock()
		}
		return d
	}
}

func (f *testFilter) decide(e *FilterEntry) FilterDecision {
	k := string(e.Key)
	switch {
	case strings.HasPrefix(k, "dead/"):
		v, err := e.Value()
		if err != nil {
			return FilterKeep
		}
		f.mu.Lock()
		f.values[k] = string(v)
		f.mu.Unlock()
		if bytes.HasPrefix(v, []byte("expired")) {
			return FilterDelete
		}
	case strings.HasPrefix(k, "child/"):
		if e.Snapshot {
			return FilterKeep
		}
		if f.before != nil {
			f.before(e)
		}
		p := strings.SplitN(k, "/", 3)[1]
		_, seq, err := e.Get([]byte("parent/" + p))
		if errors.Is(err, ErrNotFound) && !e.ReaderBelow(seq) {
			return FilterDelete
		}
	}
	return FilterKeep
}

func filterDB(t *testing.T, fs vfs.FS, f *testFilter) *DB {
	opts := tinyOptions(fs)
	opts.Index.DisableCompactions = true
	opts.CompactionFilter = f.factory
	db, err := Open("db", opts)
	require.NoError(t, err)
	return db
}

// tableEntries counts the entries of every table: every version and
// tombstone, not only what reads see.
func tableEntries(db *DB) (n uint64) {
	for _, l := range db.Levels() {
		for _, tm := range l.Tables {
			n += tm.Entries
		}
	}
	return n
}

func scanKeys(t *testing.T, db *DB) []string {
	kvs, err := db.Scan(nil, nil)
	require.NoError(t, err)
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

func TestCompactionFilterCompactAll(t *testing.T) {
	fs := vfs.NewMem()
	f := &testFilter{values: map[string]string{}}
	db := filterDB(t, fs, f)
	ctx := context.Background()
	big := func(prefix string) []byte { return append([]byte(prefix), bytes.Repeat([]byte{'.'}, 100)...) }

	// dead/c is live and at the bottom first.
	require.NoError(t, db.Put([]byte("dead/c"), big("fresh")))
	require.NoError(t, db.CompactAll(ctx))
	require.Equal(t, uint64(1), tableEntries(db))

	require.NoError(t, db.Put([]byte("live/a"), []byte("small")))
	require.NoError(t, db.Put([]byte("live/b"), big("big")))
	require.NoError(t, db.Put([]byte("dead/a"), []byte("expired")))   // inline
	require.NoError(t, db.Put([]byte("dead/b"), big("expired")))      // in the value log
	require.NoError(t, db.Put([]byte("dead/c"), []byte("expired/c"))) // over a live version below
	require.NoError(t, db.Put([]byte("dead/d"), big("not yet")))
	require.NoError(t, db.Put([]byte("parent/p1"), []byte("1")))
	require.NoError(t, db.Put([]byte("child/p1/x"), []byte("kept")))
	require.NoError(t, db.Put([]byte("child/p2/x"), []byte("orphan")))
	require.NoError(t, db.Flush(ctx))
	liveBefore := sumLive(db.Metrics().SegmentLive)

	require.NoError(t, db.CompactAll(ctx))
	want := []string{"child/p1/x", "dead/d", "live/a", "live/b", "parent/p1"}
	require.Equal(t, want, scanKeys(t, db))
	// Gone from the tables, not just hidden: one entry per live key.
	require.Equal(t, uint64(len(want)), tableEntries(db))
	_, err := db.Get([]byte("dead/c"))
	require.ErrorIs(t, err, ErrNotFound, "the older version of dead/c must not come back")
	require.ElementsMatch(t, []string{"child/p2/x", "dead/a", "dead/b", "dead/c"}, f.deleted)
	// Values in the value log reached the filter whole.
	require.Equal(t, string(big("expired")), f.values["dead/b"])
	require.Equal(t, string(big("not yet")), f.values["dead/d"])
	m := db.Metrics()
	require.Equal(t, uint64(4), m.Index.FilterTombstoned+m.Index.FilterDropped)
	// dead/b's value-log record no longer counts as live.
	require.Less(t, sumLive(m.SegmentLive), liveBefore)
	require.NoError(t, db.Close())
	rep, err := Check(fs, "db")
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Problems)
}

func sumLive(m map[uint64]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func TestCompactionFilterSnapshotKeepsChild(t *testing.T) {
	fs := vfs.NewMem()
	f := &testFilter{values: map[string]string{}}
	db := filterDB(t, fs, f)
	defer func() { require.NoError(t, db.Close()) }()
	ctx := context.Background()
	require.NoError(t, db.Put([]byte("parent/p"), []byte("1")))
	require.NoError(t, db.Put([]byte("child/p/x"), []byte("v")))
	snap := db.NewSnapshot()
	require.NoError(t, db.Delete([]byte("parent/p")))
	require.NoError(t, db.CompactAll(ctx))
	// The snapshot still reads the parent and its child.
	v, err := snap.Get([]byte("child/p/x"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.Empty(t, f.deleted)
	snap.Close()
	require.NoError(t, db.CompactAll(ctx))
	require.Equal(t, []string{"child/p/x"}, f.deleted)
	require.Empty(t, scanKeys(t, db))
	require.Zero(t, tableEntries(db))
}

// TestCompactionFilterReaderBelow opens a snapshot after the compaction
// started (the index does not know it) and moves the newest seq past it
// before the lookup: the filter must learn from ReaderBelow that a reader
// older than its lookup may read the entry.
func TestCompactionFilterReaderBelow(t *testing.T) {
	fs := vfs.NewMem()
	f := &testFilter{values: map[string]string{}}
	db := filterDB(t, fs, f)
	defer func() { require.NoError(t, db.Close()) }()
	ctx := context.Background()
	require.NoError(t, db.Put([]byte("child/p/x"), []byte("v")))
	require.NoError(t, db.Put([]byte("other"), []byte("o")))
	require.NoError(t, db.Flush(ctx))
	var snap *Snapshot
	f.before = func(e *FilterEntry) {
		if snap != nil {
			return
		}
		snap = db.NewSnapshot()
		require.False(t, e.ReaderBelow(snap.Seq()), "a reader at seq itself is not below it")
		require.True(t, e.ReaderBelow(snap.Seq()+1))
		// A reader below the entry's own seq cannot read it.
		e.Seq = snap.Seq() + 1
		require.False(t, e.ReaderBelow(snap.Seq()+2))
		e.Seq = 1
		// The lookup sees a newer seq than the snapshot's: a commit from
		// another goroutine would do this; here the visible seq moves.
		db.visibleSeq.Add(1)
	}
	require.NoError(t, db.CompactAll(ctx))
	db.visibleSeq.Add(^uint64(0)) // back
	require.Empty(t, f.deleted, "the snapshot below the lookup may read the entry")
	v, err := snap.Get([]byte("child/p/x"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	snap.Close()
	f.before = nil
	require.NoError(t, db.CompactAll(ctx))
	require.Equal(t, []string{"child/p/x"}, f.deleted)
}

func TestCompactionFilterOptions(t *testing.T) {
	opts := tinyOptions(vfs.NewMem())
	opts.Index.CompactionFilter = func(index.CompactionInfo) index.EntryFilter { return nil }
	opts.EnsureDefaults()
	err := opts.Validate()
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.ErrorContains(t, err, "Index.CompactionFilter")

	// A ship-index backup never filters and refuses CompactAll.
	f := &testFilter{values: map[string]string{}}
	opts = tinyOptions(vfs.NewMem())
	opts.Mode = ModeShipIndex
	opts.CompactionFilter = f.factory
	db, err := Open("db", opts)
	require.NoError(t, err)
	require.ErrorIs(t, db.CompactAll(context.Background()), ErrReadOnly)
	require.NoError(t, db.Close())
}

// TestCompactionFilterValueReadFails: a value the filter cannot read keeps
// its entry, whatever the filter answers, and the engine carries on.
func TestCompactionFilterValueReadFails(t *testing.T) {
	var failVlog atomic.Bool
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failVlog.Load() && op.Kind == errorfs.OpFileReadAt && strings.HasSuffix(op.Path, ".vlog") {
			return errorfs.ErrInjected
		}
		return nil
	}))
	var valueErrs atomic.Int32
	opts := tinyOptions(fs)
	opts.Index.DisableCompactions = true
	opts.CompactionFilter = func(index.CompactionInfo) func(e *FilterEntry) FilterDecision {
		return func(e *FilterEntry) FilterDecision {
			if _, err := e.Value(); err != nil {
				require.ErrorIs(t, err, errorfs.ErrInjected)
				valueErrs.Add(1)
			}
			return FilterDelete // even after a failed read
		}
	}
	db, err := Open("db", opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	ctx := context.Background()
	require.NoError(t, db.Put([]byte("k"), bytes.Repeat([]byte{'v'}, 100))) // in the value log
	require.NoError(t, db.Flush(ctx))
	failVlog.Store(true)
	require.NoError(t, db.CompactAll(ctx))
	failVlog.Store(false)
	require.Positive(t, valueErrs.Load()) // once per level it went through
	require.Equal(t, uint64(1), tableEntries(db), "the entry whose value could not be read is kept")
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Len(t, v, 100)
	require.NoError(t, db.Err())
	require.Zero(t, db.Metrics().Index.FilterDropped+db.Metrics().Index.FilterTombstoned)

	require.NoError(t, db.CompactAll(ctx))
	require.Zero(t, tableEntries(db))
	require.Equal(t, uint64(1), db.Metrics().Index.FilterDropped)
}

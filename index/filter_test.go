package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// deadValue marks a value the test filter deletes: its second byte is 'x'
// (the first is the test ValueRef's segment byte). Readers treat a dead
// value as absent, as the server treats an expired key.
func deadValue(v []byte) bool { return len(v) > 1 && v[1] == 'x' }

// filterCall is one call of the test filter.
type filterCall struct {
	key      string
	seq      uint64
	snapshot bool
}

// recordingFilter deletes dead values and records every call.
type recordingFilter struct {
	mu    sync.Mutex
	calls []filterCall
	infos []CompactionInfo
}

func (r *recordingFilter) factory(info CompactionInfo) EntryFilter {
	r.mu.Lock()
	r.infos = append(r.infos, info)
	r.mu.Unlock()
	return func(e *FilterEntry) FilterDecision {
		r.mu.Lock()
		r.calls = append(r.calls, filterCall{string(e.Key), e.Seq, e.Snapshot})
		r.mu.Unlock()
		if deadValue(e.Value) {
			return FilterDelete
		}
		return FilterKeep
	}
}

func (r *recordingFilter) reset() {
	r.mu.Lock()
	r.calls, r.infos = nil, nil
	r.mu.Unlock()
}

// rawEntries lists every entry of every table as "L<level> key@seq SET=value"
// or "L<level> key@seq DEL", level by level, tables in order.
func rawEntries(t *testing.T, x *Index) []string {
	rs := x.loadReadState()
	defer x.unrefReadState(rs)
	var out []string
	for l, lvl := range rs.v.levels {
		for _, tb := range lvl {
			it, err := x.newTableIter(x.scanCtx, tb, nil, nil)
			require.NoError(t, err)
			for it.first(); it.valid(); it.next() {
				seq, kind := it.trailer()>>8, Kind(it.trailer()&0xff)
				if kind == KindSet {
					v, err := it.value()
					require.NoError(t, err)
					out = append(out, fmt.Sprintf("L%d %s@%d SET=%s", l, it.key(), seq, v))
				} else {
					out = append(out, fmt.Sprintf("L%d %s@%d DEL", l, it.key(), seq))
				}
			}
			require.NoError(t, it.err())
			require.NoError(t, it.close())
		}
	}
	return out
}

// compactLevel rewrites all of level l into l+1 (one step of CompactAll).
func compactLevel(t *testing.T, x *Index, l int) {
	x.mu.Lock()
	require.Zero(t, x.mu.compactions)
	c := x.pickAllLocked(l)
	require.NotNil(t, c, "L%d is empty", l)
	x.mu.compactions++
	x.mu.Unlock()
	err := x.compact(c)
	x.mu.Lock()
	x.mu.compactions--
	x.finishCompactionLocked(c)
	x.notifyLocked()
	x.mu.Unlock()
	x.deleteObsolete(c.v.unref())
	require.NoError(t, err)
}

func filterOpts(fs vfs.FS, f *recordingFilter) Options {
	opts := smallOpts(fs)
	opts.ValueRef = testValueRef
	opts.DisableCompactions = true // the test says which level compacts
	opts.CompactionFilter = f.factory
	return opts
}

type testWriter struct {
	t   *testing.T
	x   *Index
	seq uint64
}

func (w *testWriter) set(key, value string) uint64 {
	w.seq++
	require.NoError(w.t, w.x.MakeRoom(context.Background()))
	w.x.Apply(w.seq, []Entry{{Kind: KindSet, Key: []byte(key), Value: []byte(value)}}, LogPos{Segment: 1, Offset: w.seq}, nil)
	return w.seq
}

func (w *testWriter) get(key string, seq uint64) (string, bool) {
	v, ok, err := w.x.Get([]byte(key), seq)
	require.NoError(w.t, err)
	return string(v), ok
}

func TestCompactionFilterTombstoneAboveBottom(t *testing.T) {
	f := &recordingFilter{}
	fs := vfs.NewMem()
	x, err := Open("db", filterOpts(fs, f))
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	w := &testWriter{t: t, x: x}

	// Old live versions at the bottom (L4).
	w.set("k1", "1old")
	w.set("k2", "1old")
	require.NoError(t, x.CompactAll(ctx))
	require.Equal(t, []string{"L4 k1@1 SET=1old", "L4 k2@2 SET=1old"}, rawEntries(t, x))

	// Newer versions: k1 and k3 dead.
	w.set("k1", "1xdead")
	w.set("k2", "1live")
	w.set("k3", "1xdead")
	w.set("k4", "1live")
	require.NoError(t, x.Flush(ctx))
	f.reset()
	compactLevel(t, x, 0) // L0 -> L1; L4 overlaps: not the bottom
	require.Equal(t, []CompactionInfo{{Level: 0, Bottom: false}}, f.infos)
	require.Equal(t, []string{
		"L1 k1@3 DEL", // a tombstone at the dead entry's seq hides k1@1
		"L1 k2@4 SET=1live",
		"L1 k3@5 DEL",
		"L1 k4@6 SET=1live",
		"L4 k1@1 SET=1old",
		"L4 k2@2 SET=1old",
	}, rawEntries(t, x))
	_, ok := w.get("k1", w.seq)
	require.False(t, ok, "k1's older version must not come back")
	v, ok := w.get("k2", w.seq)
	require.True(t, ok)
	require.Equal(t, "1live", v)
	// A reader below the dead entry still reads what it read.
	v, ok = w.get("k1", 2)
	require.True(t, ok)
	require.Equal(t, "1old", v)
	m := x.Metrics()
	require.Equal(t, uint64(2), m.FilterTombstoned)
	require.Zero(t, m.FilterDropped)
	require.Equal(t, nonZero(tableLive(t, x)), nonZero(x.SegmentLive()))

	// Down to the bottom: the tombstones and what they hide go.
	for l := 1; l < 4; l++ {
		compactLevel(t, x, l)
	}
	require.Equal(t, []string{"L4 k2@4 SET=1live", "L4 k4@6 SET=1live"}, rawEntries(t, x))
	require.Equal(t, nonZero(tableLive(t, x)), nonZero(x.SegmentLive()))

	// A dead entry compacted where nothing lies below is dropped outright.
	w.set("k5", "1xdead")
	w.set("k6", "1live")
	require.NoError(t, x.Flush(ctx))
	f.reset()
	compactLevel(t, x, 0)
	require.Equal(t, []CompactionInfo{{Level: 0, Bottom: true}}, f.infos)
	require.Equal(t, []string{"L1 k6@8 SET=1live", "L4 k2@4 SET=1live", "L4 k4@6 SET=1live"}, rawEntries(t, x))
	m = x.Metrics()
	require.Equal(t, uint64(2), m.FilterTombstoned)
	require.Equal(t, uint64(1), m.FilterDropped)
	require.Equal(t, nonZero(tableLive(t, x)), nonZero(x.SegmentLive()))
	require.NoError(t, x.VerifyTables())
}

func TestCompactionFilterNotInFlushOrTrivialMove(t *testing.T) {
	f := &recordingFilter{}
	x, err := Open("db", filterOpts(vfs.NewMem(), f))
	require.NoError(t, err)
	defer x.Close()
	w := &testWriter{t: t, x: x}
	w.set("a", "1xdead")
	require.NoError(t, x.Flush(context.Background()))
	require.Empty(t, f.calls, "a flush must not filter")
	require.Equal(t, []string{"L0 a@1 SET=1xdead"}, rawEntries(t, x))
	// A factory that declines a compaction filters nothing in it.
	x.opts.CompactionFilter = func(CompactionInfo) EntryFilter { return nil }
	compactLevel(t, x, 0)
	require.Equal(t, []string{"L1 a@1 SET=1xdead"}, rawEntries(t, x))
}

func TestCompactionFilterSnapshots(t *testing.T) {
	f := &recordingFilter{}
	x, err := Open("db", filterOpts(vfs.NewMem(), f))
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	w := &testWriter{t: t, x: x}

	s1 := w.set("k", "1v1")
	snap1 := x.NewSnapshot(s1)
	s2 := w.set("k", "1xdead") // dead, above the snapshot
	w.set("j", "1xdead")
	snap2 := x.NewSnapshot(w.seq) // reads both dead entries
	require.NoError(t, x.Flush(ctx))
	f.reset()
	compactLevel(t, x, 0) // the bottom: nothing below
	// k@2 is deleted but k@1 stays for snap1: dropping k@2 outright would
	// resurrect k@1 for newer readers, so it becomes a tombstone.
	require.Equal(t, []string{"L1 j@3 DEL", "L1 k@2 DEL", "L1 k@1 SET=1v1"}, rawEntries(t, x))
	require.ElementsMatch(t, []filterCall{
		{"j", 3, true}, {"k", s2, true}, {"k", s1, true},
	}, f.calls)
	_, ok := w.get("k", w.seq)
	require.False(t, ok)
	v, ok := w.get("k", snap1.Seq())
	require.True(t, ok)
	require.Equal(t, "1v1", v)
	// snap2 read dead values; a dead value reads as absent, and so does
	// the tombstone in its place.
	_, ok = w.get("k", snap2.Seq())
	require.False(t, ok)
	_, ok = w.get("j", snap2.Seq())
	require.False(t, ok)

	snap1.Close()
	snap2.Close()
	f.reset()
	compactLevel(t, x, 1)
	// k@2's tombstone now shadows k@1 in the one stripe left; at the
	// bottom both go without the filter being asked.
	require.Empty(t, rawEntries(t, x))
	require.Empty(t, f.calls)
	require.Empty(t, nonZero(x.SegmentLive()))
}

// TestCompactionFilterRandomized checks reads at the newest seq and at open
// snapshots against a model in which dead values read as absent, through
// flushes, background and full compactions with the filter on. A dropped
// or tombstoned entry that let an older version reappear would show here.
func TestCompactionFilterRandomized(t *testing.T) {
	forSeeds(t, func(t *testing.T, seed uint64) { runFilterRandomized(t, seed, 3000) })
}

func runFilterRandomized(t *testing.T, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, seed^0xf117e4))
	f := &recordingFilter{}
	opts := smallOpts(vfs.NewMem())
	opts.ValueRef = testValueRef
	opts.CompactionFilter = f.factory
	opts.MaxConcurrentCompactions = 1 + int(seed%2)
	x, err := Open("db", opts)
	require.NoError(t, err)
	defer func() { _ = x.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	m := model{}
	live := func(k string, seq uint64) (string, bool) {
		v, ok := m.get(k, seq)
		if ok && deadValue([]byte(v)) {
			return "", false
		}
		return v, ok
	}
	seq := uint64(0)
	type snap struct {
		s   *Snapshot
		seq uint64
	}
	var snaps []snap
	key := func() string { return fmt.Sprintf("key%03d", rng.IntN(200)) }
	check := func(op int, at uint64) {
		for i := 0; i < 200; i += 1 + rng.IntN(7) {
			k := fmt.Sprintf("key%03d", i)
			v, ok, err := x.Get([]byte(k), at)
			require.NoError(t, err)
			if ok && deadValue(v) {
				ok, v = false, nil
			}
			wv, wok := live(k, at)
			require.Equal(t, wok, ok, "op %d: Get(%s, %d) found", op, k, at)
			require.Equal(t, wv, string(v), "op %d: Get(%s, %d)", op, k, at)
		}
	}
	for op := 0; op < ops; op++ {
		switch r := rng.IntN(100); {
		case r < 55:
			require.NoError(t, x.MakeRoom(ctx))
			n := 1 + rng.IntN(4)
			entries := make([]Entry, n)
			for i := range entries {
				k := key()
				s := seq + 1 + uint64(i)
				if rng.IntN(8) == 0 {
					entries[i] = Entry{Kind: KindDelete, Key: []byte(k)}
					m[k] = append(m[k], modelVersion{seq: s, del: true})
					continue
				}
				v := make([]byte, 2+rng.IntN(30))
				v[0] = byte(rng.IntN(256))
				for j := 1; j < len(v); j++ {
					v[j] = 'a' + byte(rng.IntN(26))
				}
				if rng.IntN(3) == 0 {
					v[1] = 'x'
				} else if v[1] == 'x' {
					v[1] = 'y'
				}
				entries[i] = Entry{Kind: KindSet, Key: []byte(k), Value: v}
				m[k] = append(m[k], modelVersion{seq: s, value: string(v)})
			}
			x.Apply(seq+1, entries, LogPos{Segment: 1, Offset: seq + uint64(n)}, nil)
			seq += uint64(n)
		case r < 70:
			at := seq
			if len(snaps) > 0 && rng.IntN(2) == 0 {
				at = snaps[rng.IntN(len(snaps))].seq
			}
			check(op, at)
		case r < 75:
			snaps = append(snaps, snap{x.NewSnapshot(seq), seq})
		case r < 79:
			if len(snaps) > 0 {
				i := rng.IntN(len(snaps))
				snaps[i].s.Close()
				snaps = append(snaps[:i], snaps[i+1:]...)
			}
		case r < 88:
			require.NoError(t, x.Flush(ctx))
		case r < 94:
			require.NoError(t, x.Flush(ctx))
			require.NoError(t, x.Compact(ctx))
			require.NoError(t, x.WaitIdle(ctx))
			require.Equal(t, nonZero(tableLive(t, x)), nonZero(x.SegmentLive()), "op %d: SegmentLive", op)
		case r < 96:
			require.NoError(t, x.WaitIdle(ctx))
			require.NoError(t, x.CompactAll(ctx))
			require.Equal(t, nonZero(tableLive(t, x)), nonZero(x.SegmentLive()), "op %d: SegmentLive", op)
		default:
			require.NoError(t, x.WaitIdle(ctx))
		}
	}
	for _, s := range snaps {
		check(ops, s.seq)
		s.s.Close()
	}
	require.NoError(t, x.WaitIdle(ctx))
	require.NoError(t, x.CompactAll(ctx))
	check(ops, seq)
	// With no snapshot left, a full compaction leaves no dead value and no
	// tombstone: only the live newest versions.
	var want []string
	for k := range m {
		if v, ok := live(k, seq); ok {
			want = append(want, fmt.Sprintf("L%d %s@", opts.NumLevels-1, k)+fmt.Sprint(lastSeq(m[k]))+" SET="+v)
		}
	}
	require.ElementsMatch(t, want, rawEntries(t, x))
	require.Equal(t, nonZero(tableLive(t, x)), nonZero(x.SegmentLive()))
	met := x.Metrics()
	require.Positive(t, met.FilterTombstoned, "no entry was ever written as a tombstone")
	t.Logf("seed %d: %d compactions, %d tombstoned, %d dropped", seed, met.Compactions, met.FilterTombstoned, met.FilterDropped)
	checkLevelsSorted(t, x)
}

func lastSeq(vs []modelVersion) uint64 { return vs[len(vs)-1].seq }

// TestCompactAllRewritesLastLevel: versions kept for a snapshot, and dead
// entries, in last-level tables nothing above overlaps go at the next
// CompactAll.
func TestCompactAllRewritesLastLevel(t *testing.T) {
	f := &recordingFilter{}
	x, err := Open("db", filterOpts(vfs.NewMem(), f))
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	w := &testWriter{t: t, x: x}
	w.set("k", "1v1")
	snap := x.NewSnapshot(w.seq)
	w.set("k", "1v2")
	require.NoError(t, x.CompactAll(ctx))
	require.Equal(t, []string{"L4 k@2 SET=1v2", "L4 k@1 SET=1v1"}, rawEntries(t, x))
	snap.Close()
	require.NoError(t, x.CompactAll(ctx)) // nothing above L4
	require.Equal(t, []string{"L4 k@2 SET=1v2"}, rawEntries(t, x))
	// An entry that became dead where it lies: here the filter is swapped,
	// as an expiry passing would make the server's filter answer.
	x.opts.CompactionFilter = func(CompactionInfo) EntryFilter {
		return func(*FilterEntry) FilterDecision { return FilterDelete }
	}
	require.NoError(t, x.CompactAll(ctx))
	require.Empty(t, rawEntries(t, x))
	require.Equal(t, uint64(1), x.Metrics().FilterDropped)
}

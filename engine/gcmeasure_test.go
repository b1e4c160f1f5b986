package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// shadowedStore writes keys twice, flushing after each round, with
// compactions off: the second round's L0 entries shadow every version of
// the first, but no compaction has dropped them, so the index still counts
// the first round's segments live. It returns the store and the sealed
// segments below the checkpoint that hold only first-round values.
func shadowedStore(t *testing.T) (*DB, map[string][]byte, []uint64) {
	opts := tinyOptions(vfs.NewMem())
	opts.Index.MemtableSize = 64 << 10
	opts.Index.DisableCompactions = true
	opts.Index.L0SlowdownThreshold = 64
	opts.Index.L0StopThreshold = 128
	db, err := Open("db", opts)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	const keys = 300
	model := map[string][]byte{}
	var firstRound []uint64
	for round := range 2 {
		for i := range keys {
			k := fmt.Sprintf("key%05d", i)
			v := []byte(fmt.Sprintf("round %d value of %s %0180d", round, k, i))
			require.NoError(t, db.Put([]byte(k), v))
			model[k] = v
		}
		require.NoError(t, db.Flush(context.Background()))
		if round == 0 {
			// The segments sealed so far hold only first-round values.
			active, _ := db.log.Active()
			for _, n := range db.log.Segments() {
				if n < active {
					firstRound = append(firstRound, n)
				}
			}
		}
	}
	require.NotEmpty(t, firstRound)
	return db, model, firstRound
}

// TestGCMeasuresByIndex: the counts call the first round's segments live
// and GC has no candidate; one pass over the index measures them empty,
// GC then collects them, and every key still reads its newest value.
func TestGCMeasuresByIndex(t *testing.T) {
	db, model, first := shadowedStore(t)
	cp, live := db.idx.Checkpoint(), db.idx.SegmentLive()
	db.gcMu.Lock()
	cands, _ := db.gcCandidates(cp, live)
	db.gcMu.Unlock()
	for _, n := range first {
		require.NotContains(t, cands, n, "the counts already call segment %d garbage: the test shows nothing", n)
	}

	// Not behind: no measurement.
	db.gcMu.Lock()
	require.NoError(t, db.measureByIndex(cp))
	db.gcMu.Unlock()
	require.Zero(t, db.Metrics().GC.IndexMeasures)

	db.gcBehind.Store(true)
	db.gcMu.Lock()
	require.NoError(t, db.measureByIndex(cp))
	for _, n := range first {
		require.Zero(t, db.liveEstimate(n, live), "segment %d", n)
	}
	cands, _ = db.gcCandidates(cp, live)
	// Measured again only once the log has grown.
	db.gcMeasureStale = 1 << 40
	require.NoError(t, db.measureByIndex(cp))
	db.gcMu.Unlock()
	require.Equal(t, uint64(1), db.Metrics().GC.IndexMeasures)
	for _, n := range first {
		require.Contains(t, cands, n)
	}
	db.gcBehind.Store(false)

	res, err := db.RunGC(context.Background())
	require.NoError(t, err)
	for _, n := range first {
		require.Contains(t, res.Segments, n)
	}
	for k, v := range model {
		got, err := db.Get([]byte(k))
		require.NoError(t, err, k)
		require.Equal(t, v, got, k)
	}
}

// TestGCMeasuresSegments: with no candidate by the counts, GC reads the
// oldest segments, looks their keys up and collects those it measures
// mostly garbage, at most maxMeasurePerPass per pass, oldest first.
func TestGCMeasuresSegments(t *testing.T) {
	db, model, first := shadowedStore(t)
	cp := db.idx.Checkpoint()
	var res GCResult
	db.gcMu.Lock()
	db.gcMeasureStale = 1 << 40
	require.NoError(t, db.measureSegments(context.Background(), cp, nil, &res))
	db.gcMu.Unlock()
	m := db.Metrics()
	require.Equal(t, uint64(min(len(first), maxMeasurePerPass)), m.GC.SegmentsMeasured)
	require.Equal(t, first[:min(len(first), maxMeasurePerPass)], res.Segments)
	require.Zero(t, res.KeysRewritten)

	// The next pass reads the next oldest; segments it measured are not
	// read again before the log grows, and the live second round's are
	// not collected.
	var res2 GCResult
	db.gcMu.Lock()
	require.NoError(t, db.measureSegments(context.Background(), cp, nil, &res2))
	db.gcMu.Unlock()
	for _, n := range res2.Segments {
		// The segment after the first round's holds both rounds; the
		// ones after it only live second-round values.
		require.LessOrEqual(t, n, first[len(first)-1]+1, "segment %d holds only live values", n)
		require.NotContains(t, res.Segments, n, "segment %d collected twice", n)
	}
	require.Greater(t, db.Metrics().GC.SegmentsMeasured, m.GC.SegmentsMeasured)
	for k, v := range model {
		got, err := db.Get([]byte(k))
		require.NoError(t, err, k)
		require.Equal(t, v, got, k)
	}
}
